package identity

import (
	"net/http"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/identity/federation"
)

// Register adds the identity API to mux under /identity.
func (s *Service) Register(mux *http.ServeMux) {
	h := func(pattern string, fn authedFunc) {
		mux.Handle(pattern, s.authed(fn))
	}
	mux.Handle("GET /identity", s.public(s.versions))
	mux.Handle("GET /identity/{$}", s.public(s.versions))
	mux.Handle("GET /identity/v3", s.public(s.version))
	mux.Handle("GET /identity/v3/{$}", s.public(s.version))

	mux.Handle("POST /identity/v3/auth/tokens", s.public(s.issueToken))
	h("GET /identity/v3/auth/tokens", s.validateToken)
	h("HEAD /identity/v3/auth/tokens", s.checkToken)
	h("DELETE /identity/v3/auth/tokens", s.revokeToken)
	h("GET /identity/v3/auth/catalog", s.catalogHandler)
	h("GET /identity/v3/auth/projects", s.authProjects)
	h("GET /identity/v3/auth/domains", s.authDomains)

	h("GET /identity/v3/domains", s.listDomains)
	h("POST /identity/v3/domains", s.createDomain)
	h("GET /identity/v3/domains/{domain_id}", s.showDomain)
	h("PATCH /identity/v3/domains/{domain_id}", s.updateDomain)
	h("DELETE /identity/v3/domains/{domain_id}", s.deleteDomain)
	h("GET /identity/v3/domains/{domain_id}/config", s.showDomainConfig)
	h("PUT /identity/v3/domains/{domain_id}/config", s.putDomainConfig)
	h("PATCH /identity/v3/domains/{domain_id}/config", s.putDomainConfig)
	h("DELETE /identity/v3/domains/{domain_id}/config", s.deleteDomainConfig)

	h("GET /identity/v3/projects", s.listProjects)
	h("POST /identity/v3/projects", s.createProject)
	h("GET /identity/v3/projects/{project_id}", s.showProject)
	h("PATCH /identity/v3/projects/{project_id}", s.updateProject)
	h("DELETE /identity/v3/projects/{project_id}", s.deleteProject)

	h("GET /identity/v3/users", s.listUsers)
	h("POST /identity/v3/users", s.createUser)
	h("GET /identity/v3/users/{user_id}", s.showUser)
	h("PATCH /identity/v3/users/{user_id}", s.updateUser)
	h("DELETE /identity/v3/users/{user_id}", s.deleteUser)
	mux.Handle("POST /identity/v3/users/{user_id}/password", s.public(s.changePassword))
	h("GET /identity/v3/users/{user_id}/projects", s.listUserProjects)
	h("GET /identity/v3/users/{user_id}/groups", s.listUserGroups)

	h("GET /identity/v3/groups", s.listGroups)
	h("POST /identity/v3/groups", s.createGroup)
	h("GET /identity/v3/groups/{group_id}", s.showGroup)
	h("PATCH /identity/v3/groups/{group_id}", s.updateGroup)
	h("DELETE /identity/v3/groups/{group_id}", s.deleteGroup)
	h("GET /identity/v3/groups/{group_id}/users", s.listGroupUsers)
	h("PUT /identity/v3/groups/{group_id}/users/{user_id}", s.addGroupUser)
	h("HEAD /identity/v3/groups/{group_id}/users/{user_id}", s.checkGroupUser)
	h("DELETE /identity/v3/groups/{group_id}/users/{user_id}", s.removeGroupUser)

	h("GET /identity/v3/roles", s.listRoles)
	h("POST /identity/v3/roles", s.createRole)
	h("GET /identity/v3/roles/{role_id}", s.showRole)
	h("PATCH /identity/v3/roles/{role_id}", s.updateRole)
	h("DELETE /identity/v3/roles/{role_id}", s.deleteRole)
	h("GET /identity/v3/role_assignments", s.listRoleAssignments)

	for _, gr := range []grantRoute{{"project", "user", false}, {"project", "group", false}, {"domain", "user", false}, {"domain", "group", false},
		{"domain", "user", true}, {"domain", "group", true}} {
		base := "/identity/v3/" + gr.targetType + "s/{target_id}/" + gr.actorType + "s/{actor_id}/roles"
		suffix := ""
		if gr.inherited {
			base = "/identity/v3/OS-INHERIT/" + gr.targetType + "s/{target_id}/" + gr.actorType + "s/{actor_id}/roles"
			suffix = "/inherited_to_projects"
		}
		h("GET "+base+suffix, s.listGrants(gr))
		h("PUT "+base+"/{role_id}"+suffix, s.putGrant(gr))
		h("HEAD "+base+"/{role_id}"+suffix, s.checkGrant(gr))
		h("GET "+base+"/{role_id}"+suffix, s.checkGrant(gr))
		h("DELETE "+base+"/{role_id}"+suffix, s.deleteGrant(gr))
	}

	h("GET /identity/v3/users/{user_id}/application_credentials", s.listAppCreds)
	h("POST /identity/v3/users/{user_id}/application_credentials", s.createAppCred)
	h("GET /identity/v3/users/{user_id}/application_credentials/{cred_id}", s.showAppCred)
	h("DELETE /identity/v3/users/{user_id}/application_credentials/{cred_id}", s.deleteAppCred)

	h("GET /identity/v3/credentials", s.listCredentials)
	h("POST /identity/v3/credentials", s.createCredential)
	h("GET /identity/v3/credentials/{credential_id}", s.showCredential)
	h("PATCH /identity/v3/credentials/{credential_id}", s.updateCredential)
	h("DELETE /identity/v3/credentials/{credential_id}", s.deleteCredential)
	h("GET /identity/v3/users/{user_id}/credentials/OS-EC2", s.listEC2)
	h("POST /identity/v3/users/{user_id}/credentials/OS-EC2", s.createEC2)
	h("GET /identity/v3/users/{user_id}/credentials/OS-EC2/{access}", s.showEC2)
	h("DELETE /identity/v3/users/{user_id}/credentials/OS-EC2/{access}", s.deleteEC2)

	h("GET /identity/v3/services", s.listServicesHandler)
	h("POST /identity/v3/services", s.createService)
	h("GET /identity/v3/services/{service_id}", s.showService)
	h("PATCH /identity/v3/services/{service_id}", s.updateService)
	h("DELETE /identity/v3/services/{service_id}", s.deleteService)
	h("GET /identity/v3/registered_limits", s.listRegisteredLimits)
	h("POST /identity/v3/registered_limits", s.createRegisteredLimits)
	h("GET /identity/v3/registered_limits/{limit_id}", s.showRegisteredLimit)
	h("PATCH /identity/v3/registered_limits/{limit_id}", s.updateRegisteredLimit)
	h("DELETE /identity/v3/registered_limits/{limit_id}", s.deleteRegisteredLimit)
	h("GET /identity/v3/limits/model", s.limitModel)
	h("GET /identity/v3/limits", s.listLimits)
	h("POST /identity/v3/limits", s.createLimits)
	h("GET /identity/v3/limits/{limit_id}", s.showLimit)
	h("PATCH /identity/v3/limits/{limit_id}", s.updateLimit)
	h("DELETE /identity/v3/limits/{limit_id}", s.deleteLimit)
	h("GET /identity/v3/regions", s.listRegions)
	h("GET /identity/v3/regions/{region_id}", s.showRegion)
	h("GET /identity/v3/endpoints", s.listEndpointsHandler)
	h("POST /identity/v3/endpoints", s.createEndpoint)
	h("GET /identity/v3/endpoints/{endpoint_id}", s.showEndpoint)
	h("PATCH /identity/v3/endpoints/{endpoint_id}", s.updateEndpoint)
	h("DELETE /identity/v3/endpoints/{endpoint_id}", s.deleteEndpoint)

	s.fed.Register(mux)
	fedAuth := "/identity/v3/OS-FEDERATION/identity_providers/{idp_id}/protocols/{protocol_id}/auth"
	mux.Handle("POST "+fedAuth, s.public(s.federatedAuth))
	mux.Handle("GET "+fedAuth, s.public(s.federatedAuth))
	mux.Handle("GET /identity/v3/auth/OS-FEDERATION/identity_providers/{idp_id}/protocols/{protocol_id}/websso", s.public(s.webSSOStart))
	mux.Handle("GET "+federation.WebSSORedirectPath, s.public(s.webSSOFinish))
	mux.Handle("GET "+federation.SAMLMetadataPath, s.public(s.fed.SAMLMetadata))
	mux.Handle("POST "+federation.SAMLACSPath, s.public(s.samlACS))

	mux.Handle("/identity/", s.public(func(w http.ResponseWriter, r *http.Request) error {
		return httpapi.Errorf(http.StatusNotFound, "The resource could not be found.")
	}))
}

func (s *Service) versionDoc() map[string]any {
	return map[string]any{"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
		"links":       []map[string]any{{"rel": "self", "href": s.url("/v3/")}},
		"media-types": []map[string]any{{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}}}
}

// versions serves GET /identity: the version list.
func (s *Service) versions(w http.ResponseWriter, r *http.Request) error {
	httpapi.WriteJSON(w, http.StatusMultipleChoices, map[string]any{"versions": map[string]any{"values": []any{s.versionDoc()}}})
	return nil
}

// version serves GET /identity/v3.
func (s *Service) version(w http.ResponseWriter, r *http.Request) error {
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"version": s.versionDoc()})
	return nil
}

// authProjects serves GET /v3/auth/projects: the enabled projects the token's user can scope to.
func (s *Service) authProjects(w http.ResponseWriter, r *http.Request, tok *Token) error {
	return s.writeProjects(w, r, `SELECT `+projectColumns+` FROM projects WHERE enabled = ? AND id IN (`+userProjectIDs+`) ORDER BY name`,
		true, tok.UserID, tok.UserID, tok.UserID, tok.UserID)
}

// authDomains serves GET /v3/auth/domains: the enabled domains the token's user has a role on.
func (s *Service) authDomains(w http.ResponseWriter, r *http.Request, tok *Token) error {
	return s.writeDomains(w, r, `SELECT `+domainColumns+` FROM domains WHERE enabled = ? AND id IN (
		SELECT target_id FROM role_assignments WHERE target_type = 'domain' AND inherited = false
		AND ((actor_type = 'user' AND actor_id = ?) OR (actor_type = 'group' AND actor_id IN (SELECT group_id FROM group_members WHERE user_id = ?))))
		ORDER BY name`, true, tok.UserID, tok.UserID)
}
