# shellcheck shell=bash
# The test bed's ordinary users: $BERTH_TEST_USER (jobs run as it) and $BERTH_OTHER_USER (a
# second user, for access checks). Source after testbed.sh; call testbed_users_create.
# Home directories are mode 0755 so root daemons and the other test user can read them.

testbed_users_create() {
  local user
  for user in "$BERTH_TEST_USER" "$BERTH_OTHER_USER"; do
    if ! id -u "$user" >/dev/null 2>&1; then
      testbed_log "creating user $user"
      useradd --create-home --shell /bin/bash "$user"
    fi
    local home
    home=$(getent passwd "$user" | cut -d: -f6)
    [ -d "$home" ] || install -d -o "$user" -g "$(id -gn "$user")" -m 0755 "$home"
    chmod 0755 "$home"
  done
}

# Prints USER's home directory.
testbed_user_home() {
  getent passwd "$1" | cut -d: -f6
}
