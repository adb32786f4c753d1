// Package network is sov's Neutron v2.0 API (service.go and the files
// beside it: networks, subnets and ports with IP address management,
// security groups, RBAC, quotas, tags, routers and floating IPs) and the
// ports of servers that compute asks for (servers.go). The model is
// carried on the wire by a dataplane.Driver: package linux on one host,
// package fake for API tests.
package network
