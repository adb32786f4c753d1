// Package policy is sov's one authorisation layer: it decides, from the roles
// and scope of a validated token, whether an action on a target is allowed.
//
// The roles are the SCS ones (scs-0302): admin (the whole cloud), manager
// (self-service inside one domain, never beyond it), member and reader.
// Role implication is admin ⇒ manager ⇒ member ⇒ reader; tokens carry the
// implied roles already.
package policy

import (
	"errors"
	"slices"
)

// The SCS role names.
const (
	Admin   = "admin"
	Manager = "manager"
	Member  = "member"
	Reader  = "reader"
)

// ErrForbidden is returned when the policy denies an action.
var ErrForbidden = errors.New("policy: forbidden")

// Implied lists, for each role, the roles it implies (transitively).
var Implied = map[string][]string{
	Admin:   {Manager, Member, Reader},
	Manager: {Member, Reader},
	Member:  {Reader},
}

// DomainManagedRoles are the roles a domain manager may grant and revoke
// inside its own domain (the CSP whitelist of scs-0302).
var DomainManagedRoles = []string{Member, Reader, "load-balancer_member"}

// Credentials are the facts of a validated token that rules look at.
type Credentials struct {
	UserID       string
	UserDomainID string
	// ProjectID and ProjectDomainID are set for a project-scoped token.
	ProjectID       string
	ProjectDomainID string
	// DomainID is set for a domain-scoped token.
	DomainID string
	// Roles are the role names in the token, implied ones included.
	Roles []string
}

// HasRole reports whether the credentials carry the role name.
func (c *Credentials) HasRole(name string) bool { return slices.Contains(c.Roles, name) }

// Target describes what an action is applied to; rules read the fields they need.
type Target struct {
	// DomainID is the domain that owns the target (or is the target).
	DomainID string
	// ProjectID is the project that owns the target (or is the target).
	ProjectID string
	// UserID is the user that owns the target (or is the target).
	UserID string
	// RoleName is the role being granted, revoked or read.
	RoleName string
}

type rule func(c *Credentials, t Target) bool

func admin(c *Credentials, _ Target) bool { return c.HasRole(Admin) }

// domainManager allows a domain-scoped manager acting inside its own domain.
func domainManager(c *Credentials, t Target) bool {
	return c.DomainID != "" && c.DomainID == t.DomainID && c.HasRole(Manager)
}

// domainReader allows any role on a domain-scoped token of the target's domain.
func domainReader(c *Credentials, t Target) bool {
	return c.DomainID != "" && c.DomainID == t.DomainID && c.HasRole(Reader)
}

// domainManagedRole allows a domain manager to handle whitelisted roles only.
func domainManagedRole(c *Credentials, t Target) bool {
	return domainManager(c, t) && slices.Contains(DomainManagedRoles, t.RoleName)
}

// anyManager allows a manager of any domain (used for listing roles).
func anyManager(c *Credentials, _ Target) bool { return c.DomainID != "" && c.HasRole(Manager) }

func projectMember(c *Credentials, t Target) bool {
	return c.ProjectID != "" && c.ProjectID == t.ProjectID && c.HasRole(Member)
}

func projectReader(c *Credentials, t Target) bool {
	return c.ProjectID != "" && c.ProjectID == t.ProjectID && c.HasRole(Reader)
}

// projectInDomain allows a token scoped to a project of the target domain.
func projectInDomain(c *Credentials, t Target) bool {
	return c.ProjectDomainID != "" && c.ProjectDomainID == t.DomainID
}

func self(c *Credentials, t Target) bool { return t.UserID != "" && c.UserID == t.UserID }

func authenticated(*Credentials, Target) bool { return true }

func anyOf(rules ...rule) rule {
	return func(c *Credentials, t Target) bool {
		for _, r := range rules {
			if r(c, t) {
				return true
			}
		}
		return false
	}
}

// rules maps each action to the rule that allows it. An action not listed is denied.
var rules = map[string]rule{
	"identity:list_domains":  anyOf(admin, anyManager),
	"identity:get_domain":    anyOf(admin, domainReader, projectInDomain),
	"identity:create_domain": admin,
	"identity:update_domain": admin,
	"identity:delete_domain": admin,

	"identity:list_projects":  anyOf(admin, domainReader),
	"identity:get_project":    anyOf(admin, domainReader, projectReader),
	"identity:create_project": anyOf(admin, domainManager),
	"identity:update_project": anyOf(admin, domainManager),
	"identity:delete_project": anyOf(admin, domainManager),

	"identity:list_users":  anyOf(admin, domainReader),
	"identity:get_user":    anyOf(admin, domainReader, self),
	"identity:create_user": anyOf(admin, domainManager),
	"identity:update_user": anyOf(admin, domainManager),
	"identity:delete_user": anyOf(admin, domainManager),

	"identity:list_groups":            anyOf(admin, domainReader),
	"identity:get_group":              anyOf(admin, domainReader),
	"identity:create_group":           anyOf(admin, domainManager),
	"identity:update_group":           anyOf(admin, domainManager),
	"identity:delete_group":           anyOf(admin, domainManager),
	"identity:list_users_in_group":    anyOf(admin, domainReader),
	"identity:add_user_to_group":      anyOf(admin, domainManager),
	"identity:remove_user_from_group": anyOf(admin, domainManager),
	"identity:list_groups_for_user":   anyOf(admin, domainReader, self),

	"identity:list_identity_providers":  admin,
	"identity:get_identity_provider":    admin,
	"identity:create_identity_provider": admin,
	"identity:update_identity_provider": admin,
	"identity:delete_identity_provider": admin,
	"identity:list_protocols":           admin,
	"identity:get_protocol":             admin,
	"identity:create_protocol":          admin,
	"identity:update_protocol":          admin,
	"identity:delete_protocol":          admin,
	"identity:list_mappings":            admin,
	"identity:get_mapping":              admin,
	"identity:create_mapping":           admin,
	"identity:update_mapping":           admin,
	"identity:delete_mapping":           admin,

	"identity:get_domain_config":    admin,
	"identity:create_domain_config": admin,
	"identity:delete_domain_config": admin,

	"identity:list_oidc_clients":  anyOf(admin, domainManager),
	"identity:get_oidc_client":    anyOf(admin, domainManager),
	"identity:create_oidc_client": anyOf(admin, domainManager),
	"identity:update_oidc_client": anyOf(admin, domainManager),
	"identity:delete_oidc_client": anyOf(admin, domainManager),

	"identity:list_roles": anyOf(admin, anyManager),
	"identity:get_role": anyOf(admin, func(c *Credentials, t Target) bool {
		return anyManager(c, t) && slices.Contains(DomainManagedRoles, t.RoleName)
	}),
	"identity:create_role": admin,
	"identity:update_role": admin,
	"identity:delete_role": admin,

	"identity:list_grants":           anyOf(admin, domainReader),
	"identity:check_grant":           anyOf(admin, domainReader),
	"identity:create_grant":          anyOf(admin, domainManagedRole),
	"identity:revoke_grant":          anyOf(admin, domainManagedRole),
	"identity:list_role_assignments": anyOf(admin, domainReader, self),

	"identity:list_services":   authenticated,
	"identity:get_service":     authenticated,
	"identity:create_service":  admin,
	"identity:update_service":  admin,
	"identity:delete_service":  admin,
	"identity:list_endpoints":  authenticated,
	"identity:get_endpoint":    authenticated,
	"identity:create_endpoint": admin,
	"identity:update_endpoint": admin,
	"identity:delete_endpoint": admin,

	"identity:list_registered_limits":   authenticated,
	"identity:get_registered_limit":     authenticated,
	"identity:create_registered_limits": admin,
	"identity:update_registered_limit":  admin,
	"identity:delete_registered_limit":  admin,
	"identity:get_limit":                anyOf(admin, projectReader),
	"identity:create_limits":            admin,
	"identity:update_limit":             admin,
	"identity:delete_limit":             admin,

	"identity:owner_credentials": anyOf(admin, self),

	// Compute (Nova's names). Target.ProjectID is the server's project, or
	// the caller's for a create.
	"os_compute_api:servers:create":                anyOf(admin, projectMember),
	"os_compute_api:servers:delete":                anyOf(admin, projectMember),
	"os_compute_api:servers:update":                anyOf(admin, projectMember),
	"os_compute_api:servers:action":                anyOf(admin, projectMember),
	"os_compute_api:server-metadata:update":        anyOf(admin, projectMember),
	"os_compute_api:os-flavor-manage:create":       admin,
	"os_compute_api:os-flavor-manage:delete":       admin,
	"os_compute_api:os-flavor-extra-specs":         admin,
	"os_compute_api:os-quota-sets:show":            anyOf(admin, projectReader),
	"os_compute_api:os-instance-actions:list":      anyOf(admin, projectReader),
	"os_compute_api:os-instance-actions:show":      anyOf(admin, projectReader),
	"os_compute_api:os-attach-interfaces:list":     anyOf(admin, projectReader),
	"os_compute_api:os-attach-interfaces:show":     anyOf(admin, projectReader),
	"os_compute_api:os-attach-interfaces:create":   anyOf(admin, projectMember),
	"os_compute_api:os-attach-interfaces:delete":   anyOf(admin, projectMember),
	"os_compute_api:os-volumes-attachments:index":  anyOf(admin, projectReader),
	"os_compute_api:os-volumes-attachments:show":   anyOf(admin, projectReader),
	"os_compute_api:os-volumes-attachments:create": anyOf(admin, projectMember),
	"os_compute_api:os-volumes-attachments:update": admin,
	"os_compute_api:os-volumes-attachments:delete": anyOf(admin, projectMember),
	"os_compute_api:os-quota-sets:update":          admin,
	"os_compute_api:os-server-groups:index":        anyOf(admin, projectReader),
	"os_compute_api:os-server-groups:show":         anyOf(admin, projectReader),
	"os_compute_api:os-server-groups:create":       anyOf(admin, projectMember),
	"os_compute_api:os-server-groups:delete":       anyOf(admin, projectMember),

	// Block storage (Cinder's names). Target.ProjectID is the volume's
	// project, or the caller's for a create or a list.
	"volume:create":                                anyOf(admin, projectMember),
	"volume:get":                                   anyOf(admin, projectReader),
	"volume:get_all":                               anyOf(admin, projectReader),
	"volume:update":                                anyOf(admin, projectMember),
	"volume:delete":                                anyOf(admin, projectMember),
	"volume:extend":                                anyOf(admin, projectMember),
	"volume:create_snapshot":                       anyOf(admin, projectMember),
	"volume:get_snapshot":                          anyOf(admin, projectReader),
	"volume:get_all_snapshots":                     anyOf(admin, projectReader),
	"volume:update_snapshot":                       anyOf(admin, projectMember),
	"volume:delete_snapshot":                       anyOf(admin, projectMember),
	"volume:attachment_create":                     anyOf(admin, projectMember),
	"volume:revert_to_snapshot":                    anyOf(admin, projectMember),
	"volume_extension:volume_actions:upload_image": anyOf(admin, projectMember),
	"volume_extension:volume_actions:set_bootable": anyOf(admin, projectMember),
	"volume:retype":                                anyOf(admin, projectMember),
	"volume:create_transfer":                       anyOf(admin, projectMember),
	"volume:get_transfer":                          anyOf(admin, projectReader),
	"volume:get_all_transfers":                     anyOf(admin, projectReader),
	"volume:delete_transfer":                       anyOf(admin, projectMember),
	"volume:accept_transfer":                       anyOf(admin, projectMember),
	"backup:create":                                anyOf(admin, projectMember),
	"backup:get":                                   anyOf(admin, projectReader),
	"backup:get_all":                               anyOf(admin, projectReader),
	"backup:update":                                anyOf(admin, projectMember),
	"backup:delete":                                anyOf(admin, projectMember),
	"backup:restore":                               anyOf(admin, projectMember),
	"volume:attachment_update":                     anyOf(admin, projectMember),
	"volume:attachment_delete":                     anyOf(admin, projectMember),
	"volume:attachment_complete":                   anyOf(admin, projectMember),
	"volume:attachment_get":                        anyOf(admin, projectReader),
	"volume:attachment_get_all":                    anyOf(admin, projectReader),
	"volume_extension:type_get":                    anyOf(admin, projectReader),
	"volume_extension:types_manage":                admin,
	"volume_extension:types_extra_specs":           admin,
	"volume_extension:volume_type_encryption":      admin,
	"volume_extension:volume_encryption_metadata":  anyOf(admin, projectReader),
	"volume_extension:qos_specs_manage":            admin,
	"volume_extension:quotas:show":                 anyOf(admin, projectReader),
	"volume_extension:quotas:update":               admin,
	"volume_extension:quotas:delete":               admin,
	"limits_extension:used_limits":                 anyOf(admin, projectReader),

	// Network (Neutron's names). Target.ProjectID is the resource's project:
	// for a subnet, the network's; for a rule, its group's.
	"create_network":                        anyOf(admin, projectMember),
	"create_network:shared":                 admin,
	"create_network:router:external":        admin,
	"create_network:provider":               admin,
	"update_network":                        anyOf(admin, projectMember),
	"update_network:shared":                 admin,
	"update_network:router:external":        admin,
	"delete_network":                        anyOf(admin, projectMember),
	"create_subnet":                         anyOf(admin, projectMember),
	"update_subnet":                         anyOf(admin, projectMember),
	"delete_subnet":                         anyOf(admin, projectMember),
	"create_port":                           anyOf(admin, projectMember),
	"update_port":                           anyOf(admin, projectMember),
	"delete_port":                           anyOf(admin, projectMember),
	"create_port:device_owner":              admin, // network:* owners and their device ids
	"create_port:mac_address":               admin, // on another project's network
	"create_port:fixed_ips":                 admin, // on another project's network
	"update_port:fixed_ips":                 admin, // on another project's network
	"create_port:binding":                   admin,
	"create_port:port_security":             admin, // off, or address pairs, on another project's network
	"create_security_group":                 anyOf(admin, projectMember),
	"update_security_group":                 anyOf(admin, projectMember),
	"delete_security_group":                 anyOf(admin, projectMember),
	"create_security_group_rule":            anyOf(admin, projectMember),
	"delete_security_group_rule":            anyOf(admin, projectMember),
	"create_default_security_group_rule":    admin,
	"delete_default_security_group_rule":    admin,
	"create_rbac_policy":                    anyOf(admin, projectMember),
	"create_rbac_policy:target_tenant":      admin, // '*' or access_as_external
	"delete_rbac_policy":                    anyOf(admin, projectMember),
	"create_router":                         anyOf(admin, projectMember),
	"create_router:external_gateway_info":   admin, // enable_snat=false, external_fixed_ips
	"update_router":                         anyOf(admin, projectMember),
	"delete_router":                         anyOf(admin, projectMember),
	"add_router_interface":                  anyOf(admin, projectMember),
	"remove_router_interface":               anyOf(admin, projectMember),
	"create_floatingip":                     anyOf(admin, projectMember),
	"create_floatingip:floating_ip_address": admin,
	"update_floatingip":                     anyOf(admin, projectMember),
	"delete_floatingip":                     anyOf(admin, projectMember),
	"update_tags":                           anyOf(admin, projectMember),
	"get_quota":                             anyOf(admin, projectReader),
	"update_quota":                          admin,
	"list_quotas":                           admin,
	"get_network_ip_availability":           admin,

	// Image (Glance's names). Target.ProjectID is the image's owner.
	"add_image":     anyOf(admin, projectMember),
	"modify_image":  anyOf(admin, projectMember),
	"modify_member": anyOf(admin, projectMember),

	// Placement (its names): the admin's, as Placement's defaults, and
	// compute's through the Go API.
	"placement:resource_providers:list":               admin,
	"placement:resource_providers:create":             admin,
	"placement:resource_providers:show":               admin,
	"placement:resource_providers:update":             admin,
	"placement:resource_providers:delete":             admin,
	"placement:resource_providers:inventories:list":   admin,
	"placement:resource_providers:inventories:update": admin,
	"placement:resource_providers:inventories:create": admin,
	"placement:resource_providers:inventories:delete": admin,
	"placement:resource_providers:inventories:show":   admin,
	"placement:resource_providers:usages":             admin,
	"placement:resource_providers:allocations:list":   admin,
	"placement:resource_providers:aggregates:list":    admin,
	"placement:resource_providers:aggregates:update":  admin,
	"placement:resource_providers:traits:list":        admin,
	"placement:resource_providers:traits:update":      admin,
	"placement:resource_providers:traits:delete":      admin,
	"placement:resource_classes:list":                 admin,
	"placement:resource_classes:create":               admin,
	"placement:resource_classes:show":                 admin,
	"placement:resource_classes:update":               admin,
	"placement:resource_classes:delete":               admin,
	"placement:traits:list":                           admin,
	"placement:traits:show":                           admin,
	"placement:traits:update":                         admin,
	"placement:traits:delete":                         admin,
	"placement:allocations:list":                      admin,
	"placement:allocations:update":                    admin,
	"placement:allocations:delete":                    admin,
	"placement:allocations:manage":                    admin,
	"placement:usages":                                anyOf(admin, projectReader),
	"placement:allocation_candidates:list":            admin,
	"placement:reshaper:reshape":                      admin,

	// Key manager (Barbican's names and its secure-RBAC defaults, its
	// "creator" being SCS's member, scs-0116): members (and admins) of the
	// project do everything, readers nothing; the key manager only ever
	// shows the caller's project.
	"secrets:get":           anyOf(admin, projectMember),
	"secrets:post":          anyOf(admin, projectMember),
	"secret:get":            anyOf(admin, projectMember),
	"secret:decrypt":        anyOf(admin, projectMember),
	"secret:put":            anyOf(admin, projectMember),
	"secret:delete":         anyOf(admin, projectMember),
	"secret_meta:get":       anyOf(admin, projectMember),
	"secret_meta:post":      anyOf(admin, projectMember),
	"secret_meta:put":       anyOf(admin, projectMember),
	"secret_meta:delete":    anyOf(admin, projectMember),
	"containers:get":        anyOf(admin, projectMember),
	"containers:post":       anyOf(admin, projectMember),
	"container:get":         anyOf(admin, projectMember),
	"container:delete":      anyOf(admin, projectMember),
	"container_secret:post": anyOf(admin, projectMember),
	"consumers:get":         anyOf(admin, projectMember),
	"consumers:post":        anyOf(admin, projectMember),
	"consumers:delete":      anyOf(admin, projectMember),
	"orders:get":            anyOf(admin, projectMember),
	"orders:post":           anyOf(admin, projectMember),
	"order:get":             anyOf(admin, projectMember),
	"order:delete":          anyOf(admin, projectMember),
}

// The load balancer's rules (Octavia's names, os_load-balancer_api:...,
// with its secure-RBAC defaults): readers of the project read, members
// change, admins also fail over and set quotas.
func init() {
	for _, r := range []string{"loadbalancer", "listener", "pool", "member", "healthmonitor", "l7policy", "l7rule"} {
		for _, read := range []string{"get_one", "get_all", "get_stats", "get_status"} {
			rules["os_load-balancer_api:"+r+":"+read] = anyOf(admin, projectReader)
		}
		for _, write := range []string{"post", "put", "delete"} {
			rules["os_load-balancer_api:"+r+":"+write] = anyOf(admin, projectMember)
		}
	}
	rules["os_load-balancer_api:loadbalancer:put_failover"] = admin
	rules["os_load-balancer_api:provider:get_all"] = anyOf(admin, projectReader)
	rules["os_load-balancer_api:quota:get_one"] = anyOf(admin, projectReader)
	rules["os_load-balancer_api:quota:get_all"] = anyOf(admin, projectReader)
	rules["os_load-balancer_api:quota:get_defaults"] = anyOf(admin, projectReader)
	rules["os_load-balancer_api:quota:put"] = admin
	rules["os_load-balancer_api:quota:delete"] = admin
}

// Denied is the error of a denied action; it is ErrForbidden.
type Denied struct {
	Action string
}

func (d *Denied) Error() string { return ErrForbidden.Error() + ": " + d.Action }

// Is makes a Denied match ErrForbidden.
func (d *Denied) Is(target error) bool { return target == ErrForbidden }

// Enforce returns nil when the credentials allow action on target and a
// *Denied otherwise (also for an action the table does not hold).
func Enforce(c *Credentials, action string, t Target) error {
	r, ok := rules[action]
	if !ok || c == nil || !r(c, t) {
		return &Denied{Action: action}
	}
	return nil
}

// Allowed reports whether the credentials allow action on target.
func Allowed(c *Credentials, action string, t Target) bool { return Enforce(c, action, t) == nil }
