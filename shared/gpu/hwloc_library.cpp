#include "shared/gpu/hwloc_library.hpp"

#include "shared/sys/shared_library.hpp"

namespace berth::gpu {
namespace {

Result<const HwlocLibrary*> load() {
  BERTH_ASSIGN(sys::SharedLibrary library, sys::SharedLibrary::open("libhwloc.so.15"));
  static HwlocLibrary api{};
  BERTH_TRY(library.resolve("hwloc_topology_init", api.topologyInit));
  BERTH_TRY(library.resolve("hwloc_topology_destroy", api.topologyDestroy));
  BERTH_TRY(library.resolve("hwloc_topology_set_components", api.topologySetComponents));
  BERTH_TRY(library.resolve("hwloc_topology_set_type_filter", api.topologySetTypeFilter));
  BERTH_TRY(library.resolve("hwloc_topology_load", api.topologyLoad));
  BERTH_TRY(library.resolve("hwloc_get_type_depth", api.getTypeDepth));
  BERTH_TRY(library.resolve("hwloc_get_obj_by_depth", api.getObjByDepth));
  BERTH_TRY(library.resolve("hwloc_bitmap_list_asprintf", api.bitmapListAsprintf));
  return &api;
}

}  // namespace

Result<const HwlocLibrary*> hwlocLibrary() {
  // Loaded once per process (a function-local static: thread-safe initialisation).
  static const Result<const HwlocLibrary*> loaded = load();
  return loaded;
}

}  // namespace berth::gpu
