# What `cmake --install` and the packages put where, and how cpack builds the packages:
#   cd build && cpack -G DEB     berth_<version>_amd64.deb
#   cd build && cpack -G RPM     berth-<version>-1.x86_64.rpm (needs rpmbuild: Debian's `rpm`)
# docs/admin-guide.md's install section says the same, command for command: keep them in sync.
# tests/packaging/test_deb_install.sh installs the .deb and runs the test cluster with it.
include(GNUInstallDirs)

# Slurm's plugin directory (PluginDir). Default: where the build host's Slurm keeps its plugins
# (Debian's slurm-wlm: /usr/lib/<multiarch>/slurm-wlm; SchedMD's RPMs: /usr/lib64/slurm), else
# PREFIX/LIBDIR/slurm. auth_munge.so is in every Slurm installation. Always absolute: the
# plugstack.conf line names it, and the packages install it there whatever their prefix.
set(berth_plugin_dir_default ${CMAKE_INSTALL_FULL_LIBDIR}/slurm)
foreach(dir /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/slurm-wlm /usr/lib64/slurm /usr/lib/slurm)
  if(EXISTS ${dir}/auth_munge.so)
    set(berth_plugin_dir_default ${dir})
    break()
  endif()
endforeach()
set(BERTH_SLURM_PLUGIN_DIR ${berth_plugin_dir_default} CACHE PATH
  "Slurm's plugin directory (PluginDir): spank_berth.so is installed there")
if(NOT IS_ABSOLUTE ${BERTH_SLURM_PLUGIN_DIR})
  message(FATAL_ERROR "BERTH_SLURM_PLUGIN_DIR must be an absolute path: ${BERTH_SLURM_PLUGIN_DIR}")
endif()
set(berth_plugin_path ${BERTH_SLURM_PLUGIN_DIR}/spank_berth.so)

install(TARGETS berth RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS spank_berth LIBRARY DESTINATION ${BERTH_SLURM_PLUGIN_DIR}
  PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

# The plugstack.conf line, with the plugin's installed path. Not under /etc/slurm: a site's
# `include plugstack.conf.d/*` must not load the plugin just because the package is installed;
# the admin links it there (docs/admin-guide.md).
file(READ ${PROJECT_SOURCE_DIR}/slurm_conf_examples/plugstack.conf berth_plugstack)
string(REPLACE "/usr/lib/x86_64-linux-gnu/slurm-wlm/spank_berth.so" "${berth_plugin_path}"
  berth_plugstack "${berth_plugstack}")
file(CONFIGURE OUTPUT ${PROJECT_BINARY_DIR}/packaging/plugstack.conf CONTENT "${berth_plugstack}"
  @ONLY)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
  ${PROJECT_SOURCE_DIR}/slurm_conf_examples/plugstack.conf)
install(FILES ${PROJECT_BINARY_DIR}/packaging/plugstack.conf
  DESTINATION ${CMAKE_INSTALL_DATADIR}/berth)

# berth.conf, every key commented out at its default. Its path is compiled into berth
# (shared/config/site_config.hpp), whatever the prefix. `cmake --install` keeps an existing
# file (the site's settings); the .deb marks it a conffile, the .rpm %config(noreplace).
set(berth_conf_dir /etc/berth)
install(CODE "
  if(EXISTS \"\$ENV{DESTDIR}${berth_conf_dir}/berth.conf\")
    message(STATUS \"Keeping: \$ENV{DESTDIR}${berth_conf_dir}/berth.conf\")
  else()
    file(INSTALL \"${PROJECT_SOURCE_DIR}/slurm_conf_examples/berth.conf\"
      DESTINATION \"${berth_conf_dir}\" PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  endif()")

# Man pages (help2man) and bash completion, generated from the built berth's --help.
find_program(BERTH_HELP2MAN help2man)
if(BERTH_HELP2MAN)
  set(berth_docs_dir ${PROJECT_BINARY_DIR}/packaging)
  add_custom_command(OUTPUT ${berth_docs_dir}/docs.stamp
    COMMAND ${PROJECT_SOURCE_DIR}/packaging/make_docs.sh $<TARGET_FILE:berth> ${PROJECT_VERSION}
      ${berth_docs_dir}
    COMMAND ${CMAKE_COMMAND} -E touch ${berth_docs_dir}/docs.stamp
    DEPENDS berth ${PROJECT_SOURCE_DIR}/packaging/make_docs.sh
    COMMENT "Man pages and bash completion from berth --help")
  add_custom_target(berth_docs ALL DEPENDS ${berth_docs_dir}/docs.stamp)
  install(DIRECTORY ${berth_docs_dir}/man/ DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
  install(FILES ${berth_docs_dir}/bash-completion/berth
    DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
else()
  message(WARNING "help2man not found: no man pages or bash completion (scripts/install-deps)")
endif()

# The packages.
set(CPACK_PACKAGE_NAME berth)
set(CPACK_PACKAGE_VENDOR "berth")
set(CPACK_PACKAGE_CONTACT "berth maintainers <berth@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Container images for Slurm: SPANK plugin and berth command")
set(CPACK_PACKAGE_DESCRIPTION "berth runs Slurm job steps in container images \
(srun --container-image=...) through a SPANK plugin, and pulls, caches and runs images with the \
berth command. Images are pulled once per cluster into a shared squashfs cache.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_GENERATOR DEB)

# Debian (names of Debian 12). Linked libraries: dpkg-shlibdeps. Libraries berth opens at run time
# (shared/*/*_library.cpp, shared/container/squashfs_server.cpp), which dpkg-shlibdeps cannot see:
# pulls need libcurl, libcrypto and libarchive; hwloc (GPU locality in `berth info --gpu`),
# libsquashfuse (unprivileged `berth exec`) and libseccomp (the single identity mode of
# --fakeroot/--container-remap-root) are optional, as are uidmap (newuidmap: the subuid mode)
# and libisal (ISA-L: gzip layers inflate faster; zlib without it).
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libcurl4, libssl3, libarchive13")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "libhwloc15, libsquashfuse0, libseccomp2, uidmap, libisal2")
set(CPACK_DEBIAN_PACKAGE_ENHANCES "slurmd, slurm-client")
file(WRITE ${PROJECT_BINARY_DIR}/packaging/conffiles "${berth_conf_dir}/berth.conf\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${PROJECT_BINARY_DIR}/packaging/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

# RPM: linked libraries found by rpmbuild; the opened ones required by soname (distribution-
# neutral). Build it where its Slurm runs (BERTH_SLURM_PLUGIN_DIR is the build host's).
set(CPACK_RPM_FILE_NAME RPM-DEFAULT)
set(CPACK_RPM_PACKAGE_LICENSE "unknown")
set(CPACK_RPM_PACKAGE_GROUP "System Environment/Base")
set(CPACK_RPM_PACKAGE_REQUIRES
  "libcurl.so.4()(64bit), libcrypto.so.3()(64bit), libarchive.so.13()(64bit)")
# (Weak dependencies: cpack leaves them out where rpmbuild lacks them, as Debian's does.)
set(CPACK_RPM_PACKAGE_SUGGESTS "libhwloc.so.15()(64bit), libsquashfuse_ll.so.0()(64bit), \
libseccomp.so.2()(64bit), libisal.so.2()(64bit)")
# cpack marks every file with an absolute destination %config; the plugin is not one.
set(CPACK_RPM_USER_FILELIST "%config(noreplace) ${berth_conf_dir}/berth.conf"
  "%attr(0644,root,root) ${berth_plugin_path}")
get_filename_component(berth_plugin_parent ${BERTH_SLURM_PLUGIN_DIR} DIRECTORY)
set(CPACK_RPM_EXCLUDE_FROM_AUTO_FILELIST_ADDITION ${BERTH_SLURM_PLUGIN_DIR} ${berth_plugin_parent}
  /usr/share/bash-completion /usr/share/bash-completion/completions /usr/share/man
  /usr/share/man/man1)

include(CPack)
