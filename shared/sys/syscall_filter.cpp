#include "shared/sys/syscall_filter.hpp"

#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include <fmt/format.h>

#include "shared/core/unique_fd.hpp"
#include "shared/sys/process.hpp"
#include "shared/sys/shared_library.hpp"

namespace berth::sys {
namespace {

// The system calls that fake success, whatever their arguments (keep in sync with
// docs/security.md, "Root in a container").
constexpr const char* kFakedCalls[] = {
    // ownership: files keep the owner they have (root inside)
    "chown",
    "fchown",
    "lchown",
    "fchownat",
    "chown32",
    "fchown32",
    "lchown32",
    // identity changes: the process stays root inside
    "setuid",
    "setgid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "setfsuid",
    "setfsgid",
    "setuid32",
    "setgid32",
    "setreuid32",
    "setregid32",
    "setresuid32",
    "setresgid32",
    "setfsuid32",
    "setfsgid32",
    // supplementary groups and capabilities
    "setgroups",
    "setgroups32",
    "capset",
};

// mknod-like calls and the position of their mode argument: faked for device nodes only.
constexpr std::pair<const char*, unsigned> kMknodCalls[] = {
    {"mknod", 1},
    {"mknodat", 2},
};

// libseccomp's entry points, opened on first use (only the single mode needs them).
struct Api {
  decltype(&seccomp_init) init = nullptr;
  decltype(&seccomp_release) release = nullptr;
  decltype(&seccomp_arch_native) archNative = nullptr;
  decltype(&seccomp_arch_add) archAdd = nullptr;
  decltype(&seccomp_attr_set) attrSet = nullptr;
  decltype(&seccomp_syscall_resolve_name) resolveName = nullptr;
  decltype(&seccomp_rule_add_array) ruleAdd = nullptr;
  decltype(&seccomp_export_bpf) exportBpf = nullptr;
};

Result<Api> loadApi() {
  BERTH_ASSIGN(SharedLibrary library,
               SharedLibrary::open("libseccomp.so.2")
                   .withContext("the single identity mode needs libseccomp (package libseccomp2)"));
  Api api;
  BERTH_TRY(library.resolve("seccomp_init", api.init));
  BERTH_TRY(library.resolve("seccomp_release", api.release));
  BERTH_TRY(library.resolve("seccomp_arch_native", api.archNative));
  BERTH_TRY(library.resolve("seccomp_arch_add", api.archAdd));
  BERTH_TRY(library.resolve("seccomp_attr_set", api.attrSet));
  BERTH_TRY(library.resolve("seccomp_syscall_resolve_name", api.resolveName));
  BERTH_TRY(library.resolve("seccomp_rule_add_array", api.ruleAdd));
  BERTH_TRY(library.resolve("seccomp_export_bpf", api.exportBpf));
  return api;
}

// The 32-bit (and x32) ABIs a 64-bit kernel also runs, so their programs are covered too.
std::vector<uint32_t> compatibleArchitectures(uint32_t native) {
  switch (native) {
    case SCMP_ARCH_X86_64:
      return {SCMP_ARCH_X86, SCMP_ARCH_X32};
    case SCMP_ARCH_AARCH64:
      return {SCMP_ARCH_ARM};
    default:
      return {};
  }
}

Error seccompError(int rc, std::string_view what) {
  return Error::fromErrno(-rc, fmt::format("seccomp filter: {}", what));
}

class FilterContext {
 public:
  FilterContext(const Api& api, scmp_filter_ctx ctx) : api_(api), ctx_(ctx) {}
  FilterContext(const FilterContext&) = delete;
  FilterContext& operator=(const FilterContext&) = delete;
  ~FilterContext() { api_.release(ctx_); }
  scmp_filter_ctx get() const { return ctx_; }

 private:
  const Api& api_;
  scmp_filter_ctx ctx_;
};

Result<std::vector<sock_filter>> exportProgram(const Api& api, scmp_filter_ctx ctx) {
  UniqueFd memory(::memfd_create("berth-seccomp", MFD_CLOEXEC));
  if (!memory)
    return errnoError("seccomp filter: memfd_create");
  if (int rc = api.exportBpf(ctx, memory.get()); rc != 0)
    return seccompError(rc, "export");
  if (::lseek(memory.get(), 0, SEEK_SET) != 0)
    return errnoError("seccomp filter: seek");
  BERTH_ASSIGN(std::string bytes, readAll(memory.get()));
  if (bytes.empty() || bytes.size() % sizeof(sock_filter) != 0)
    return Error("seccomp filter: libseccomp exported no program");
  std::vector<sock_filter> program(bytes.size() / sizeof(sock_filter));
  std::memcpy(program.data(), bytes.data(), bytes.size());
  return program;
}

}  // namespace

Result<SyscallFilter> fakeOwnershipFilter() {
  BERTH_ASSIGN(Api api, loadApi());
  scmp_filter_ctx raw = api.init(SCMP_ACT_ALLOW);
  if (raw == nullptr)
    return Error("seccomp filter: libseccomp could not start one");
  FilterContext ctx(api, raw);
  // A program of an architecture the filter does not know runs unfiltered (the filter fakes,
  // it does not protect).
  if (int rc = api.attrSet(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ALLOW); rc != 0)
    return seccompError(rc, "set the action for other architectures");
  for (uint32_t arch : compatibleArchitectures(api.archNative()))
    (void)api.archAdd(ctx.get(), arch);  // a kernel or libseccomp without it: skipped
  const uint32_t fakeSuccess = SCMP_ACT_ERRNO(0);
  for (const char* name : kFakedCalls) {
    int call = api.resolveName(name);
    if (call == __NR_SCMP_ERROR)
      continue;  // unknown to this libseccomp on every architecture
    if (int rc = api.ruleAdd(ctx.get(), fakeSuccess, call, 0, nullptr); rc != 0)
      return seccompError(rc, name);
  }
  for (const auto& [name, modeArg] : kMknodCalls) {
    int call = api.resolveName(name);
    if (call == __NR_SCMP_ERROR)
      continue;
    for (scmp_datum_t type : {scmp_datum_t{S_IFCHR}, scmp_datum_t{S_IFBLK}}) {
      scmp_arg_cmp isDevice{modeArg, SCMP_CMP_MASKED_EQ, S_IFMT, type};
      if (int rc = api.ruleAdd(ctx.get(), fakeSuccess, call, 1, &isDevice); rc != 0)
        return seccompError(rc, name);
    }
  }
  SyscallFilter filter;
  BERTH_ASSIGN(filter.program, exportProgram(api, ctx.get()));
  return filter;
}

Status installSyscallFilter(const SyscallFilter& filter) {
  sock_fprog program{};
  program.len = static_cast<unsigned short>(filter.program.size());
  program.filter = const_cast<sock_filter*>(filter.program.data());
  if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program, 0, 0) != 0)
    return errnoError("install the seccomp filter");
  return okStatus();
}

}  // namespace berth::sys
