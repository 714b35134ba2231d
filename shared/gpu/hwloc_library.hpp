// hwloc, loaded the first time berth asks where a GPU sits.
//
// Linking libhwloc (and through it libudev) costs every process that loads berth ~0.8 ms at
// start-up (`berth exec`, and every srun and slurmstepd through spank_berth.so); only GPU
// locality needs it, so the library is opened on first use instead. Types and constants come
// from the header; its inline helpers (hwloc_get_next_pcidev, ...) must not be called, as they
// would link the library again: locality.cpp walks the objects itself.
#pragma once

#include <hwloc.h>

#include "shared/core/result.hpp"

namespace berth::gpu {

// The hwloc entry points berth uses, resolved from libhwloc.so.15 (typed from the header's
// declarations, which are never called directly).
struct HwlocLibrary {
  decltype(&::hwloc_topology_init) topologyInit;
  decltype(&::hwloc_topology_destroy) topologyDestroy;
  decltype(&::hwloc_topology_set_components) topologySetComponents;
  decltype(&::hwloc_topology_set_type_filter) topologySetTypeFilter;
  decltype(&::hwloc_topology_load) topologyLoad;
  decltype(&::hwloc_get_type_depth) getTypeDepth;
  decltype(&::hwloc_get_obj_by_depth) getObjByDepth;
  decltype(&::hwloc_bitmap_list_asprintf) bitmapListAsprintf;
};

// Opens hwloc once per process; stays loaded until exit.
Result<const HwlocLibrary*> hwlocLibrary();

}  // namespace berth::gpu
