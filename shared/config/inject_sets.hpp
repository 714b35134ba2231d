// Inject sets: site-declared bundles of host files, libraries, device nodes and variables that
// users add to a container by name (`--container-inject=NAME,...`, `berth exec --inject NAME`),
// or that every container gets (`default`). berth.conf declares each with keys
// `inject.NAME.FIELD = VALUE` (strict: an unknown field is an error):
//
//   inject.mpich.libraries = /usr/lib/x86_64-linux-gnu/libmpich.so.12, /usr/lib/.../libucp.so.0
//   inject.mpich.files     = /etc/ucx, /opt/site/etc:/etc/site      SRC[:DST], read-only
//   inject.mpich.devices   = /dev/infiniband/*, /dev/cxi*            globs, same path
//   inject.mpich.env       = UCX_TLS=rc,sm                         one NAME=VALUE per line
//   inject.mpich.env       = FI_PROVIDER=cxi                       (repeatable)
//   inject.mpich.host_mpi  = true     the host MPI set: --container-mpi=host picks it
//   inject.mpich.default   = true     every container gets it
//
// What a set does to a container lives in shared/container/inject.hpp.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shared/core/result.hpp"

namespace berth::config {

struct InjectFile {
  std::string source;  // host path (absolute)
  std::string target;  // in the container; the source's path unless given
  bool operator==(const InjectFile&) const = default;
};

struct InjectSet {
  std::string name;
  std::vector<InjectFile> files;
  std::vector<std::string> libraries;  // host paths or globs
  std::vector<std::string> devices;    // host paths or globs, bound at the same path
  std::vector<std::pair<std::string, std::string>> env;
  bool hostMpi = false;
  bool byDefault = false;
  bool operator==(const InjectSet&) const = default;
};

// Whether `key` is an inject-set key (`inject.` prefix).
bool isInjectKey(std::string_view key);

// Applies one `inject.NAME.FIELD = VALUE` line to `sets` (a new set when NAME is new). List
// fields add items; flags may be set once.
Status applyInjectSetting(std::vector<InjectSet>& sets, std::string_view key,
                          std::string_view value);

// Set names as users give them ("a,b"), checked against `sets`: an unknown name is an error
// listing the known ones; "none" alone stands for no set (not even the defaults).
Result<std::vector<std::string>> parseInjectNames(std::string_view text,
                                                  const std::vector<InjectSet>& sets);

// The sets a container gets: the defaults, then `names` (in order, each once); `names` of
// ["none"] drops the defaults. `hostMpi` adds the host MPI set (an error when none is declared).
Result<std::vector<const InjectSet*>> selectInjectSets(const std::vector<InjectSet>& sets,
                                                       const std::vector<std::string>& names,
                                                       bool hostMpi);

}  // namespace berth::config
