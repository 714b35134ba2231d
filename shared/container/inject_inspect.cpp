#include "shared/container/inject_inspect.hpp"

#include <unistd.h>

#include "shared/container/build.hpp"
#include "shared/container/inject.hpp"
#include "shared/sys/identity.hpp"

namespace berth::container {

Result<std::string> inspectImageMpi(const config::SiteConfig& site, const ImageLocation& image) {
  ContainerRequest request;
  request.image = image;
  BERTH_ASSIGN(request.user, sys::lookupIdentity(::getuid()));
  request.unprivileged = ::geteuid() != 0;
  request.options.noHome = true;
  BERTH_ASSIGN(BuiltContainer built, buildContainer(site, request));
  return describeImageMpi(mpi::rootFileReader(built.prepared.rootDirectory()),
                          mpi::hostFileReader());
}

}  // namespace berth::container
