#include "shared/gpu/locality.hpp"

#include <hwloc.h>

#include <cstdio>
#include <cstdlib>
#include <utility>

namespace berth::gpu {
namespace {

hwloc_topology_t handle(void* topology) {
  return static_cast<hwloc_topology_t>(topology);
}

std::string listString(hwloc_const_bitmap_t bitmap) {
  char* text = nullptr;
  if (hwloc_bitmap_list_asprintf(&text, bitmap) < 0 || text == nullptr)
    return {};
  std::string result(text);
  std::free(text);
  return result;
}

}  // namespace

Result<Topology> Topology::load() {
  hwloc_topology_t topology = nullptr;
  if (hwloc_topology_init(&topology) != 0)
    return errnoError("hwloc: init topology");
  Topology owner(topology);
  // PCI devices come from the Linux component (sysfs). The plugin components would load
  // libpciaccess (it leaks), an X display (gl), or OpenCL/CUDA/NVML libraries into this process
  // (slurmstepd): none of that is needed, so they are blacklisted.
  for (const char* component : {"pci", "gl", "opencl", "cuda", "nvml", "rsmi", "levelzero"})
    hwloc_topology_set_components(topology, HWLOC_TOPOLOGY_COMPONENTS_FLAG_BLACKLIST, component);
  // Keep PCI devices (dropped by default); bridges only as needed to place them.
  hwloc_topology_set_type_filter(topology, HWLOC_OBJ_PCI_DEVICE, HWLOC_TYPE_FILTER_KEEP_ALL);
  hwloc_topology_set_type_filter(topology, HWLOC_OBJ_BRIDGE, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
  if (hwloc_topology_load(topology) != 0)
    return errnoError("hwloc: load topology");
  return owner;
}

Topology::Topology(Topology&& other) noexcept
    : topology_(std::exchange(other.topology_, nullptr)) {}

Topology::~Topology() {
  if (topology_ != nullptr)
    hwloc_topology_destroy(handle(topology_));
}

PciLocality Topology::locate(std::string_view busId) const {
  PciLocality locality;
  unsigned domain = 0, bus = 0, dev = 0, func = 0;
  std::string id(busId);
  if (std::sscanf(id.c_str(), "%x:%x:%x.%x", &domain, &bus, &dev, &func) != 4)
    return locality;
  hwloc_obj_t pci = hwloc_get_pcidev_by_busid(handle(topology_), domain, bus, dev, func);
  if (pci == nullptr)
    return locality;
  locality.found = true;
  if (pci->name != nullptr)
    locality.name = pci->name;
  hwloc_obj_t parent = hwloc_get_non_io_ancestor_obj(handle(topology_), pci);
  if (parent != nullptr) {
    if (parent->cpuset != nullptr)
      locality.cpus = listString(parent->cpuset);
    if (parent->nodeset != nullptr)
      locality.numaNodes = listString(parent->nodeset);
  }
  return locality;
}

std::vector<std::string> Topology::pciBusIds() const {
  std::vector<std::string> ids;
  for (hwloc_obj_t pci = hwloc_get_next_pcidev(handle(topology_), nullptr); pci != nullptr;
       pci = hwloc_get_next_pcidev(handle(topology_), pci)) {
    char id[32];
    std::snprintf(id, sizeof id, "%04x:%02x:%02x.%01x", pci->attr->pcidev.domain,
                  pci->attr->pcidev.bus, pci->attr->pcidev.dev, pci->attr->pcidev.func);
    ids.emplace_back(id);
  }
  return ids;
}

}  // namespace berth::gpu
