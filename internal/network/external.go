package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/store"
)

// AdminProject finds the project of the cloud administrator, which owns
// the external network made at a cloud's first start.
type AdminProject interface {
	AdminProjectID(ctx context.Context) (string, error)
}

// externalName is the name of the external network of a new cloud.
const externalName = "public"

// DefaultExternalCIDR is the subnet of a new cloud's external network.
var DefaultExternalCIDR = netip.MustParsePrefix("172.24.4.0/24")

// bootstrapExternal makes, at a cloud's first start (never again, so an
// admin may delete it), the external network "public": flat on the
// external physical network, router:external, of the admin project, with
// one subnet without DHCP whose gateway is its first address (the host's,
// on the host-local data plane) or the one configured, and the rest (or
// the configured pool) the pool of floating IPs and router gateways.
func (s *Service) bootstrapExternal(ctx context.Context) error {
	made := false
	cidr := s.cfg.ExternalCIDR
	if !cidr.IsValid() {
		cidr = DefaultExternalCIDR
	}
	cidr = cidr.Masked()
	project, err := s.admin.AdminProjectID(ctx)
	if err != nil {
		return err
	}
	now := time.Now().Unix()
	n := &network{ID: uuid.NewString(), Project: project, Name: externalName, AdminUp: true, External: true, MTU: 1500,
		PortSecurity: true, Type: "flat", Physnet: physExternal, Revision: 1, Created: now, Updated: now}
	gateway := cidr.Addr().Next()
	if s.cfg.ExternalGateway.IsValid() {
		gateway = s.cfg.ExternalGateway
	}
	pools := defaultPools(cidr, gateway)
	if p := s.cfg.ExternalPool; p[0].IsValid() && p[1].IsValid() {
		pools = []pool{{p[0].String(), p[1].String()}}
	}
	if _, err := parsePools(pools, cidr, gateway); err != nil {
		return fmt.Errorf("network: the external network's pool: %w", err)
	}
	sn := &subnet{ID: uuid.NewString(), Project: project, Network: n.ID, Name: externalName + "-subnet", IPVersion: 4,
		CIDR: cidr.String(), Gateway: gateway.String(), Pools: pools, DNS: []string{}, Routes: []route{},
		Revision: 1, Created: now, Updated: now}
	if !cidr.Addr().Is4() {
		sn.IPVersion = 6
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var done, have int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM backfills WHERE name = 'external_network'`).Scan(&done); err != nil || done > 0 {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM networks WHERE physical_network = ?`, physExternal).Scan(&have); err != nil {
			return err
		}
		if have == 0 { // else the cloud has its external network already
			made = true
			if err := insertNetwork(ctx, tx, n); err != nil {
				return err
			}
			if err := insertSubnet(ctx, tx, sn); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO backfills (name) VALUES ('external_network')`)
		return err
	})
	if errors.Is(err, store.ErrConflict) {
		return nil // another sov on the same store, starting at the same time, made it
	}
	if err != nil || !made {
		return err
	}
	s.log.Info("network: made the external network", "network", n.ID, "cidr", cidr)
	return nil
}
