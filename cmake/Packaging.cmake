# Installation layout and the .deb (make deb): the daemon and tool (stripped,
# keeping their build-id; the symbols go to tongban-dbgsym), the
# systemd unit, man pages, completion scripts, example configurations, the
# monitoring files, the region-code table, the web console's pages, the copyright file and changelog,
# and the maintainer scripts (deploy/debian/). lintian's verdict and its
# overrides are in the README ("Packaging").
include(GNUInstallDirs)

# The man pages, completion scripts and changelog as Debian ships them:
# gzip -9n (no name or time stamp, so the package is reproducible).
set(TB_PKG_DIR ${CMAKE_BINARY_DIR}/package)
set(TB_PKG_FILES)
foreach(page tongband.8 tongband.conf.5 tongbanctl.1)
  add_custom_command(OUTPUT ${TB_PKG_DIR}/${page}.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${TB_PKG_DIR}
    COMMAND gzip -9nc ${CMAKE_SOURCE_DIR}/deploy/man/${page} > ${TB_PKG_DIR}/${page}.gz
    DEPENDS ${CMAKE_SOURCE_DIR}/deploy/man/${page} VERBATIM)
  list(APPEND TB_PKG_FILES ${TB_PKG_DIR}/${page}.gz)
endforeach()
add_custom_command(OUTPUT ${TB_PKG_DIR}/changelog.Debian.gz
  COMMAND ${CMAKE_COMMAND} -E make_directory ${TB_PKG_DIR}
  COMMAND gzip -9nc ${CMAKE_SOURCE_DIR}/deploy/debian/changelog > ${TB_PKG_DIR}/changelog.Debian.gz
  DEPENDS ${CMAKE_SOURCE_DIR}/deploy/debian/changelog VERBATIM)
add_custom_command(OUTPUT ${TB_PKG_DIR}/tongbanctl.bash ${TB_PKG_DIR}/_tongbanctl
  COMMAND ${CMAKE_COMMAND} -E make_directory ${TB_PKG_DIR}
  COMMAND $<TARGET_FILE:tongbanctl> completion bash > ${TB_PKG_DIR}/tongbanctl.bash
  COMMAND $<TARGET_FILE:tongbanctl> completion zsh > ${TB_PKG_DIR}/_tongbanctl
  DEPENDS tongbanctl VERBATIM)
add_custom_target(tongban_package_files ALL
  DEPENDS ${TB_PKG_FILES} ${TB_PKG_DIR}/changelog.Debian.gz ${TB_PKG_DIR}/tongbanctl.bash)

install(TARGETS tongband tongbanctl RUNTIME DESTINATION bin)
# Stripped as dh_strip does (.comment and .note too); the GNU build-id note
# stays, and tools/make-dbgsym.sh (make deb) puts the symbols into
# tongban-dbgsym under /usr/lib/debug/.build-id/.
install(CODE "
  foreach(program tongband tongbanctl)
    execute_process(COMMAND ${CMAKE_STRIP} --remove-section=.comment --remove-section=.note
                            \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/bin/\${program}\"
                    RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR \"strip \${program} failed\")
    endif()
  endforeach()")
install(FILES deploy/tongband.service DESTINATION /lib/systemd/system)
install(FILES ${TB_PKG_DIR}/tongbanctl.1.gz DESTINATION share/man/man1)
install(FILES ${TB_PKG_DIR}/tongband.conf.5.gz DESTINATION share/man/man5)
install(FILES ${TB_PKG_DIR}/tongband.8.gz DESTINATION share/man/man8)
install(FILES ${TB_PKG_DIR}/tongbanctl.bash DESTINATION share/bash-completion/completions
        RENAME tongbanctl)
install(FILES ${TB_PKG_DIR}/_tongbanctl DESTINATION share/zsh/vendor-completions)
install(FILES deploy/tongband.county.conf deploy/tongband.province.conf
              deploy/tongband.national.conf
        DESTINATION share/doc/tongban/examples)
install(FILES deploy/prometheus/tongban-alerts.yml deploy/prometheus/prometheus.yml
              deploy/grafana/tongban-dashboard.json
        DESTINATION share/doc/tongban/monitoring)
install(FILES deploy/tongband.county.conf DESTINATION /etc/tongban RENAME tongband.conf)
install(FILES data/regions.tsv DESTINATION share/tongban)
install(FILES deploy/debian/lintian-overrides DESTINATION share/lintian/overrides RENAME tongban)
install(FILES README.md deploy/debian/copyright ${TB_PKG_DIR}/changelog.Debian.gz
        DESTINATION share/doc/tongban)
# The web console's pages (console.assets defaults to this folder); it
# serves Bootstrap 5 and Chart.js from Debian's packages, which the .deb
# depends on, never a copy of its own.
install(DIRECTORY console/assets/ DESTINATION share/tongban/console)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME tongban)
set(CPACK_PACKAGE_VENDOR "Tongban developers")
# The publisher sets its own address: cmake -DTB_DEB_MAINTAINER="Name <address>".
set(TB_DEB_MAINTAINER "Tongban developers <tongban-dev@example.org>"
    CACHE STRING "Maintainer field of the .deb")
set(CPACK_PACKAGE_CONTACT "${TB_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${TB_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "county node keeping migrants' public-service records in step
Tongban (通办) lets the county of a migrant's household registration and the
county where the person lives now share the person's public-service records:
registrations, certificates, services, entitlements, inquiries and notices.
Each node keeps them in RocksDB as a signed, verifiable, encrypted log of
change events and synchronises them with its peers over mutual TLS, with the
national platform as index, relay and witness.
.
This package holds the daemon tongband with its hardened systemd unit, and
tongbanctl, the operator's command-line tool.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # runtime libraries from dpkg-shlibdeps
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, libjs-bootstrap5, libjs-chart.js")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/deploy/debian/postinst
    ${CMAKE_SOURCE_DIR}/deploy/debian/prerm
    ${CMAKE_SOURCE_DIR}/deploy/debian/postrm
    ${CMAKE_SOURCE_DIR}/deploy/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
