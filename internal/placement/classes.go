package placement

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

// Resource classes and traits: the standard ones (os-resource-classes'
// and the os-traits that sov's hosts report) in code, custom ones
// (CUSTOM_*) in the store.

// StandardClasses are os-resource-classes' standard resource classes.
var StandardClasses = []string{"VCPU", "MEMORY_MB", "DISK_GB", "PCI_DEVICE", "SRIOV_NET_VF", "NUMA_SOCKET", "NUMA_CORE",
	"NUMA_THREAD", "NUMA_MEMORY_MB", "IPV4_ADDRESS", "VGPU", "VGPU_DISPLAY_HEAD", "NET_BW_EGR_KILOBIT_PER_SEC",
	"NET_BW_IGR_KILOBIT_PER_SEC", "PCPU", "MEM_ENCRYPTION_CONTEXT", "FPGA", "PGPU", "NET_PACKET_RATE_KILOPACKET_PER_SEC",
	"NET_PACKET_RATE_EGR_KILOPACKET_PER_SEC", "NET_PACKET_RATE_IGR_KILOPACKET_PER_SEC"}

// StandardTraits are the os-traits sov knows: what its compute hosts
// report of themselves (hypervisor.HostTraits) and common ones besides.
var StandardTraits = []string{
	"COMPUTE_DEVICE_TAGGING", "COMPUTE_NET_ATTACH_INTERFACE", "COMPUTE_NET_ATTACH_INTERFACE_WITH_TAG",
	"COMPUTE_VOLUME_ATTACH", "COMPUTE_VOLUME_ATTACH_WITH_TAG", "COMPUTE_VOLUME_EXTEND", "COMPUTE_VOLUME_MULTI_ATTACH",
	"COMPUTE_IMAGE_TYPE_QCOW2", "COMPUTE_IMAGE_TYPE_RAW", "COMPUTE_IMAGE_TYPE_ISO", "COMPUTE_IMAGE_TYPE_AMI",
	"COMPUTE_IMAGE_TYPE_AKI", "COMPUTE_IMAGE_TYPE_ARI", "COMPUTE_CONFIG_DRIVE_REGENERATION", "COMPUTE_TRUSTED_CERTS",
	"COMPUTE_NODE", "COMPUTE_STATUS_DISABLED", "COMPUTE_ARCH_X86_64", "COMPUTE_GRAPHICS_MODEL_VGA",
	"COMPUTE_NET_VIF_MODEL_VIRTIO", "COMPUTE_STORAGE_BUS_VIRTIO", "COMPUTE_STORAGE_BUS_SCSI", "COMPUTE_STORAGE_BUS_SATA",
	"COMPUTE_SECURITY_TPM_2_0", "COMPUTE_SOCKET_PCI_NUMA_AFFINITY", "COMPUTE_RESCUE_BFV", "COMPUTE_ACCELERATORS",
	"HW_ARCH_X86_64", "HW_CPU_X86_AESNI", "HW_CPU_X86_AVX", "HW_CPU_X86_AVX2", "HW_CPU_X86_AVX512F", "HW_CPU_X86_BMI",
	"HW_CPU_X86_BMI2", "HW_CPU_X86_F16C", "HW_CPU_X86_FMA3", "HW_CPU_X86_MMX", "HW_CPU_X86_SSE", "HW_CPU_X86_SSE2",
	"HW_CPU_X86_SSE3", "HW_CPU_X86_SSSE3", "HW_CPU_X86_SSE41", "HW_CPU_X86_SSE42", "HW_CPU_X86_SHA", "HW_CPU_X86_SVM",
	"HW_CPU_X86_VMX", "HW_CPU_HYPERTHREADING", "MISC_SHARES_VIA_AGGREGATE", "STORAGE_DISK_HDD", "STORAGE_DISK_SSD",
}

// customName is what a custom class or trait is named.
var customName = regexp.MustCompile(`^CUSTOM_[A-Z0-9_]{1,248}$`)

// classExists reports whether a resource class is standard or made.
func (s *Service) classExists(ctx context.Context, db store.Querier, name string) (bool, error) {
	if slices.Contains(StandardClasses, name) {
		return true, nil
	}
	var n int
	err := db.QueryRow(ctx, `SELECT COUNT(*) FROM placement_resource_classes WHERE name = ?`, name).Scan(&n)
	return n > 0, err
}

func (s *Service) classView(name string) map[string]any {
	return map[string]any{"name": name, "links": []map[string]string{{"rel": "self", "href": s.link("/resource_classes/" + name)}}}
}

func (s *Service) listClasses(q *request) error {
	custom, err := store.Column(q.r.Context(), s.db, `SELECT name FROM placement_resource_classes ORDER BY name`)
	if err != nil {
		return err
	}
	out := []map[string]any{}
	for _, n := range append(slices.Clone(StandardClasses), custom...) {
		out = append(out, s.classView(n))
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"resource_classes": out})
	return nil
}

func (s *Service) showClass(q *request) error {
	name := q.r.PathValue("name")
	ok, err := s.classExists(q.r.Context(), s.db, name)
	if err != nil {
		return err
	}
	if !ok {
		return errorf(http.StatusNotFound, codeUndefined, "No such resource class %s.", name)
	}
	httpapi.WriteJSON(q.w, http.StatusOK, s.classView(name))
	return nil
}

// createClass makes a custom class: 201, or 409 when it exists.
func (s *Service) createClass(q *request) error {
	var b struct {
		Name *string `json:"name"`
	}
	if err := httpapi.DecodeJSON(q.r, &b); err != nil {
		return badRequest("JSON does not validate: %v", err)
	}
	if b.Name == nil || !customName.MatchString(*b.Name) {
		return badRequest("JSON does not validate: 'name' must be CUSTOM_ followed by upper case letters, digits and underscores")
	}
	err := store.Insert(q.r.Context(), s.db, "placement_resource_classes", store.Values{}.Set("name", *b.Name))
	if errors.Is(err, store.ErrConflict) {
		return errorf(http.StatusConflict, codeDuplicateName, "Conflicting resource class already exists: %s", *b.Name)
	}
	if err != nil {
		return err
	}
	q.w.Header().Set("Location", s.link("/resource_classes/"+*b.Name))
	q.w.WriteHeader(http.StatusCreated)
	return nil
}

// putClass (1.7) makes a custom class if it is not there: 201 or 204.
func (s *Service) putClass(q *request) error {
	name := q.r.PathValue("name")
	if !customName.MatchString(name) {
		return badRequest("JSON does not validate: '%s' must be CUSTOM_ followed by upper case letters, digits and underscores", name)
	}
	err := store.Insert(q.r.Context(), s.db, "placement_resource_classes", store.Values{}.Set("name", name))
	if errors.Is(err, store.ErrConflict) {
		q.w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if err != nil {
		return err
	}
	q.w.Header().Set("Location", s.link("/resource_classes/"+name))
	q.w.WriteHeader(http.StatusCreated)
	return nil
}

// deleteClass removes a custom class no inventory has.
func (s *Service) deleteClass(q *request) error {
	name := q.r.PathValue("name")
	if slices.Contains(StandardClasses, name) {
		return badRequest("Cannot delete standard resource class %s: Cannot delete standard resource class", name)
	}
	ctx := q.r.Context()
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM placement_inventories WHERE resource_class = ?`, name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return errorf(http.StatusConflict, codeUndefined, "Unable to delete resource class %s: Resource class in use", name)
		}
		err := store.Affected(tx.Exec(ctx, `DELETE FROM placement_resource_classes WHERE name = ?`, name))
		if errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusNotFound, codeUndefined, "No such resource class %s.", name)
		}
		return err
	})
	if err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// traitExists reports whether a trait is standard or made.
func traitExists(ctx context.Context, db store.Querier, name string) (bool, error) {
	if slices.Contains(StandardTraits, name) {
		return true, nil
	}
	var n int
	err := db.QueryRow(ctx, `SELECT COUNT(*) FROM placement_traits WHERE name = ?`, name).Scan(&n)
	return n > 0, err
}

// listTraits lists traits, filtered by name=startswith:X or name=in:A,B
// and associated=true|false.
func (s *Service) listTraits(q *request) error {
	ctx := q.r.Context()
	custom, err := store.Column(ctx, s.db, `SELECT name FROM placement_traits ORDER BY name`)
	if err != nil {
		return err
	}
	all := append(slices.Clone(StandardTraits), custom...)
	query := q.r.URL.Query()
	if v := query.Get("name"); v != "" {
		switch {
		case strings.HasPrefix(v, "startswith:"):
			all = slices.DeleteFunc(all, func(t string) bool { return !strings.HasPrefix(t, strings.TrimPrefix(v, "startswith:")) })
		case strings.HasPrefix(v, "in:"):
			in := strings.Split(strings.TrimPrefix(v, "in:"), ",")
			all = slices.DeleteFunc(all, func(t string) bool { return !slices.Contains(in, t) })
		default:
			return badRequest("Badly formatted name parameter. Expected name query string parameter in form: ?name=[in|startswith]:[name1,name2|prefix]. Got: \"%s\"", v)
		}
	}
	if v, ok := query["associated"]; ok {
		assoc, valid := httpapi.ParseBool(v[0])
		if !valid {
			return badRequest("Invalid query string parameters: 'associated' is not a boolean")
		}
		used, err := store.Column(ctx, s.db, `SELECT DISTINCT trait FROM placement_provider_traits`)
		if err != nil {
			return err
		}
		all = slices.DeleteFunc(all, func(t string) bool { return slices.Contains(used, t) != assoc })
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"traits": all})
	return nil
}

func (s *Service) showTrait(q *request) error {
	ok, err := traitExists(q.r.Context(), s.db, q.r.PathValue("name"))
	if err != nil {
		return err
	}
	if !ok {
		return errorf(http.StatusNotFound, codeUndefined, "No such trait(s): %s", q.r.PathValue("name"))
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// putTrait makes a custom trait: 201, or 204 when it exists.
func (s *Service) putTrait(q *request) error {
	name := q.r.PathValue("name")
	if !customName.MatchString(name) {
		return badRequest("The trait is invalid. A valid trait must be no longer than 255 characters, start with the prefix \"CUSTOM_\" and use following characters: \"A\"-\"Z\", \"0\"-\"9\" and \"_\"")
	}
	err := store.Insert(q.r.Context(), s.db, "placement_traits", store.Values{}.Set("name", name))
	if errors.Is(err, store.ErrConflict) {
		q.w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if err != nil {
		return err
	}
	q.w.Header().Set("Location", s.link("/traits/"+name))
	q.w.WriteHeader(http.StatusCreated)
	return nil
}

// deleteTrait removes a custom trait no provider has.
func (s *Service) deleteTrait(q *request) error {
	name := q.r.PathValue("name")
	if slices.Contains(StandardTraits, name) {
		return badRequest("Cannot delete standard trait %s.", name)
	}
	ctx := q.r.Context()
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM placement_provider_traits WHERE trait = ?`, name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return errorf(http.StatusConflict, codeUndefined, "The trait %s is in use by a resource provider.", name)
		}
		err := store.Affected(tx.Exec(ctx, `DELETE FROM placement_traits WHERE name = ?`, name))
		if errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusNotFound, codeUndefined, "No such trait(s): %s", name)
		}
		return err
	})
	if err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// traitFilter reads required=A,!B into required and (1.22) forbidden
// traits, which must exist.
func (s *Service) traitFilter(q *request, v string) (required, forbidden []string, err error) {
	for _, t := range strings.Split(v, ",") {
		name, not := strings.CutPrefix(t, "!")
		if not && !q.atLeast(22) {
			name = t
		}
		ok, err := traitExists(q.r.Context(), s.db, name)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			return nil, nil, badRequest("No such trait(s): %s", name)
		}
		if not && q.atLeast(22) {
			forbidden = append(forbidden, name)
		} else {
			required = append(required, name)
		}
	}
	return required, forbidden, nil
}

func (s *Service) writeProviderTraits(q *request, id string) error {
	ctx := q.r.Context()
	p, err := s.getProvider(ctx, s.db, id)
	if err != nil {
		return err
	}
	traits, err := store.Column(ctx, s.db, `SELECT trait FROM placement_provider_traits WHERE provider_uuid = ? ORDER BY trait`, p.UUID)
	if err != nil {
		return err
	}
	if traits == nil {
		traits = []string{}
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"traits": traits, "resource_provider_generation": p.Generation})
	return nil
}

func (s *Service) providerTraits(q *request) error {
	return s.writeProviderTraits(q, q.r.PathValue("uuid"))
}

// setProviderTraits replaces a provider's traits in tx.
func setProviderTraits(ctx context.Context, tx *store.Tx, provider string, traits []string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM placement_provider_traits WHERE provider_uuid = ?`, provider); err != nil {
		return err
	}
	for _, t := range traits {
		if err := store.Insert(ctx, tx, "placement_provider_traits", store.Values{}.Set("provider_uuid", provider).Set("trait", t)); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) putProviderTraits(q *request) error {
	var b struct {
		Traits     []string `json:"traits"`
		Generation *int     `json:"resource_provider_generation"`
	}
	if err := httpapi.DecodeJSON(q.r, &b); err != nil {
		return badRequest("JSON does not validate: %v", err)
	}
	if b.Traits == nil || b.Generation == nil {
		return badRequest("JSON does not validate: 'traits' and 'resource_provider_generation' are required properties")
	}
	slices.Sort(b.Traits)
	b.Traits = slices.Compact(b.Traits)
	ctx := q.r.Context()
	var unknown []string
	for _, t := range b.Traits {
		ok, err := traitExists(ctx, s.db, t)
		if err != nil {
			return err
		}
		if !ok {
			unknown = append(unknown, t)
		}
	}
	if len(unknown) > 0 {
		return badRequest("No such trait %s", strings.Join(unknown, ", "))
	}
	id := q.r.PathValue("uuid")
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := s.getProvider(ctx, tx, id); err != nil {
			return err
		}
		if err := bumpOr(ctx, tx, id, *b.Generation, changedSince); err != nil {
			return err
		}
		return setProviderTraits(ctx, tx, id, b.Traits)
	})
	if err != nil {
		return err
	}
	return s.writeProviderTraits(q, id)
}

func (s *Service) deleteProviderTraits(q *request) error {
	ctx := q.r.Context()
	id := q.r.PathValue("uuid")
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := s.getProvider(ctx, tx, id); err != nil {
			return err
		}
		if err := bump(ctx, tx, id, -1); err != nil {
			return err
		}
		return setProviderTraits(ctx, tx, id, nil)
	})
	if err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// Aggregates (1.1): a provider's aggregates, with its generation from 1.19.

func (s *Service) writeAggregates(q *request, id string) error {
	ctx := q.r.Context()
	p, err := s.getProvider(ctx, s.db, id)
	if err != nil {
		return err
	}
	aggs, err := store.Column(ctx, s.db, `SELECT aggregate_uuid FROM placement_provider_aggregates WHERE provider_uuid = ? ORDER BY aggregate_uuid`, p.UUID)
	if err != nil {
		return err
	}
	if aggs == nil {
		aggs = []string{}
	}
	body := map[string]any{"aggregates": aggs}
	if q.atLeast(19) {
		body["resource_provider_generation"] = p.Generation
	}
	httpapi.WriteJSON(q.w, http.StatusOK, body)
	return nil
}

func (s *Service) listAggregates(q *request) error {
	return s.writeAggregates(q, q.r.PathValue("uuid"))
}

func (s *Service) putAggregates(q *request) error {
	var aggs []string
	gen := -1
	if q.atLeast(19) {
		var b struct {
			Aggregates []string `json:"aggregates"`
			Generation *int     `json:"resource_provider_generation"`
		}
		if err := httpapi.DecodeJSON(q.r, &b); err != nil {
			return badRequest("JSON does not validate: %v", err)
		}
		if b.Aggregates == nil || b.Generation == nil {
			return badRequest("JSON does not validate: 'aggregates' and 'resource_provider_generation' are required properties")
		}
		aggs, gen = b.Aggregates, *b.Generation
	} else if err := httpapi.DecodeJSON(q.r, &aggs); err != nil || aggs == nil {
		return badRequest("JSON does not validate: the body is a list of aggregate uuids")
	}
	for _, a := range aggs {
		if !uuidPattern.MatchString(a) {
			return badRequest("JSON does not validate: '%s' is not a 'uuid'", a)
		}
	}
	slices.Sort(aggs)
	aggs = slices.Compact(aggs)
	ctx := q.r.Context()
	id := q.r.PathValue("uuid")
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := s.getProvider(ctx, tx, id); err != nil {
			return err
		}
		if q.atLeast(19) { // generations guard aggregates from 1.19
			if err := bumpOr(ctx, tx, id, gen, changedSince); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM placement_provider_aggregates WHERE provider_uuid = ?`, id); err != nil {
			return err
		}
		for _, a := range aggs {
			if err := store.Insert(ctx, tx, "placement_provider_aggregates", store.Values{}.Set("provider_uuid", id).Set("aggregate_uuid", a)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.writeAggregates(q, id)
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)
