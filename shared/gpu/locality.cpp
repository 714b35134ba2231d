#include "shared/gpu/locality.hpp"

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "shared/gpu/hwloc_library.hpp"

namespace berth::gpu {
namespace {

hwloc_topology_t handle(void* topology) {
  return static_cast<hwloc_topology_t>(topology);
}

// The PCI device after `previous` (the first one for nullptr). hwloc_get_next_pcidev() is an
// inline over these two calls (PCI devices are one list of cousins at a virtual depth); it is
// not called, as it would link libhwloc.
hwloc_obj_t nextPciDevice(const HwlocLibrary& lib, hwloc_topology_t topology,
                          hwloc_obj_t previous) {
  int depth = lib.getTypeDepth(topology, HWLOC_OBJ_PCI_DEVICE);
  if (depth == HWLOC_TYPE_DEPTH_UNKNOWN || depth == HWLOC_TYPE_DEPTH_MULTIPLE)
    return nullptr;
  if (previous == nullptr)
    return lib.getObjByDepth(topology, depth, 0);
  return previous->depth == depth ? previous->next_cousin : nullptr;
}

std::string listString(const HwlocLibrary& lib, hwloc_const_bitmap_t bitmap) {
  char* text = nullptr;
  if (lib.bitmapListAsprintf(&text, bitmap) < 0 || text == nullptr)
    return {};
  std::string result(text);
  std::free(text);
  return result;
}

}  // namespace

Result<Topology> Topology::load() {
  BERTH_ASSIGN(const HwlocLibrary* lib, hwlocLibrary());
  hwloc_topology_t topology = nullptr;
  if (lib->topologyInit(&topology) != 0)
    return errnoError("hwloc: init topology");
  Topology owner(lib, topology);
  // PCI devices come from the Linux component (sysfs). The plugin components would load
  // libpciaccess (it leaks), an X display (gl), or OpenCL/CUDA/NVML libraries into this process
  // (slurmstepd): none of that is needed, so they are blacklisted.
  for (const char* component : {"pci", "gl", "opencl", "cuda", "nvml", "rsmi", "levelzero"})
    lib->topologySetComponents(topology, HWLOC_TOPOLOGY_COMPONENTS_FLAG_BLACKLIST, component);
  // Keep PCI devices (dropped by default); bridges only as needed to place them.
  lib->topologySetTypeFilter(topology, HWLOC_OBJ_PCI_DEVICE, HWLOC_TYPE_FILTER_KEEP_ALL);
  lib->topologySetTypeFilter(topology, HWLOC_OBJ_BRIDGE, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
  if (lib->topologyLoad(topology) != 0)
    return errnoError("hwloc: load topology");
  return owner;
}

Topology::Topology(Topology&& other) noexcept
    : lib_(other.lib_), topology_(std::exchange(other.topology_, nullptr)) {}

Topology::~Topology() {
  if (topology_ != nullptr)
    lib_->topologyDestroy(handle(topology_));
}

PciLocality Topology::locate(std::string_view busId) const {
  PciLocality locality;
  unsigned domain = 0, bus = 0, dev = 0, func = 0;
  std::string id(busId);
  if (std::sscanf(id.c_str(), "%x:%x:%x.%x", &domain, &bus, &dev, &func) != 4)
    return locality;
  hwloc_obj_t pci = nullptr;
  for (hwloc_obj_t candidate = nextPciDevice(*lib_, handle(topology_), nullptr);
       candidate != nullptr; candidate = nextPciDevice(*lib_, handle(topology_), candidate)) {
    const auto& attr = candidate->attr->pcidev;
    if (attr.domain == domain && attr.bus == bus && attr.dev == dev && attr.func == func) {
      pci = candidate;
      break;
    }
  }
  if (pci == nullptr)
    return locality;
  locality.found = true;
  if (pci->name != nullptr)
    locality.name = pci->name;
  // The first ancestor with a cpuset (hwloc_get_non_io_ancestor_obj()).
  hwloc_obj_t parent = pci;
  while (parent != nullptr && parent->cpuset == nullptr)
    parent = parent->parent;
  if (parent != nullptr) {
    if (parent->cpuset != nullptr)
      locality.cpus = listString(*lib_, parent->cpuset);
    if (parent->nodeset != nullptr)
      locality.numaNodes = listString(*lib_, parent->nodeset);
  }
  return locality;
}

std::vector<std::string> Topology::pciBusIds() const {
  std::vector<std::string> ids;
  for (hwloc_obj_t pci = nextPciDevice(*lib_, handle(topology_), nullptr); pci != nullptr;
       pci = nextPciDevice(*lib_, handle(topology_), pci)) {
    char id[32];
    std::snprintf(id, sizeof id, "%04x:%02x:%02x.%01x", pci->attr->pcidev.domain,
                  pci->attr->pcidev.bus, pci->attr->pcidev.dev, pci->attr->pcidev.func);
    ids.emplace_back(id);
  }
  return ids;
}

}  // namespace berth::gpu
