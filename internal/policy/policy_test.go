package policy

import (
	"errors"
	"testing"
)

func TestEnforce(t *testing.T) {
	admin := &Credentials{UserID: "root", ProjectID: "admin", Roles: []string{Admin, Manager, Member, Reader}}
	managerA := &Credentials{UserID: "ma", DomainID: "a", Roles: []string{Manager, Member, Reader}}
	readerA := &Credentials{UserID: "ra", DomainID: "a", Roles: []string{Reader}}
	memberP := &Credentials{UserID: "mp", ProjectID: "p", ProjectDomainID: "a", Roles: []string{Member, Reader}}
	tests := []struct {
		name   string
		c      *Credentials
		action string
		target Target
		want   bool
	}{
		{"admin-creates-domain", admin, "identity:create_domain", Target{}, true},
		{"manager-creates-domain", managerA, "identity:create_domain", Target{}, false},
		{"manager-creates-project-in-own-domain", managerA, "identity:create_project", Target{DomainID: "a"}, true},
		{"manager-creates-project-elsewhere", managerA, "identity:create_project", Target{DomainID: "b"}, false},
		{"manager-grants-member", managerA, "identity:create_grant", Target{DomainID: "a", RoleName: Member}, true},
		{"manager-grants-admin", managerA, "identity:create_grant", Target{DomainID: "a", RoleName: Admin}, false},
		{"manager-grants-manager", managerA, "identity:create_grant", Target{DomainID: "a", RoleName: Manager}, false},
		{"manager-grants-member-elsewhere", managerA, "identity:create_grant", Target{DomainID: "b", RoleName: Member}, false},
		{"manager-creates-role", managerA, "identity:create_role", Target{}, false},
		{"manager-gets-member-role", managerA, "identity:get_role", Target{RoleName: Member}, true},
		{"manager-gets-admin-role", managerA, "identity:get_role", Target{RoleName: Admin}, false},
		{"reader-lists-users-of-domain", readerA, "identity:list_users", Target{DomainID: "a"}, true},
		{"reader-creates-user", readerA, "identity:create_user", Target{DomainID: "a"}, false},
		{"member-gets-own-project", memberP, "identity:get_project", Target{DomainID: "a", ProjectID: "p"}, true},
		{"member-gets-other-project", memberP, "identity:get_project", Target{DomainID: "a", ProjectID: "q"}, false},
		{"member-gets-self", memberP, "identity:get_user", Target{DomainID: "a", UserID: "mp"}, true},
		{"member-gets-other-user", memberP, "identity:get_user", Target{DomainID: "a", UserID: "x"}, false},
		{"member-lists-services", memberP, "identity:list_services", Target{}, true},
		{"unknown-action", admin, "identity:does_not_exist", Target{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Enforce(tt.c, tt.action, tt.target)
			if got := err == nil; got != tt.want {
				t.Errorf("Enforce(%s, %+v) = %v, want allowed=%v", tt.action, tt.target, err, tt.want)
			}
			if err != nil && !errors.Is(err, ErrForbidden) {
				t.Errorf("error %v does not wrap ErrForbidden", err)
			}
		})
	}
	if Enforce(nil, "identity:list_services", Target{}) == nil {
		t.Error("nil credentials allowed")
	}
}
