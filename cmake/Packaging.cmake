# Installation layout and the .deb (make deb): the daemon and tool, the
# systemd unit, example configurations, the region-code table, the web
# console's pages and the
# package scripts that create the tongban system user.
include(GNUInstallDirs)

install(TARGETS tongband tongbanctl RUNTIME DESTINATION bin)
install(FILES deploy/tongband.service DESTINATION lib/systemd/system)
install(FILES deploy/tongband.county.conf deploy/tongband.province.conf
              deploy/tongband.national.conf
        DESTINATION share/doc/tongban/examples)
install(FILES deploy/tongband.county.conf DESTINATION /etc/tongban RENAME tongband.conf)
install(FILES data/regions.tsv DESTINATION share/tongban)
install(FILES README.md DESTINATION share/doc/tongban)
# The web console's pages (console.assets defaults to this folder); it
# serves Bootstrap 5 and Chart.js from Debian's packages, which the .deb
# depends on, never a copy of its own.
install(DIRECTORY console/assets/ DESTINATION share/tongban/console)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME tongban)
set(CPACK_PACKAGE_VENDOR "Tongban developers")
set(CPACK_PACKAGE_CONTACT "Tongban developers <tongban@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Tongban (通办) county node: public-service records that follow the person")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # runtime libraries from dpkg-shlibdeps
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, libjs-bootstrap5, libjs-chart.js")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/deploy/debian/postinst
    ${CMAKE_SOURCE_DIR}/deploy/debian/postrm
    ${CMAKE_SOURCE_DIR}/deploy/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
