#!/bin/sh
# Runs its arguments on a private D-Bus session bus with a real Secret Service:
# a gnome-keyring-daemon keeping its keyrings in a temporary folder, unlocked
# with a throwaway password. `make test` runs the tests this way.
#
# The bus starts the daemon on demand (D-Bus activation), through a service
# file of this bus alone that unlocks it: the first client starts it, and if
# it dies mid-run (gnome-keyring 42 aborts now and then when a client goes
# away during a call, an upstream race seen with many short-lived clients),
# the next call starts it again on the same keyrings, unlocked, instead of the
# system's service file starting one whose keyring is locked.
set -eu
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT INT TERM
mkdir "$dir/services"
cat > "$dir/keyring.sh" <<EOF
#!/bin/sh
export XDG_DATA_HOME='$dir' XDG_RUNTIME_DIR='$dir'
echo -n nuage-test | exec gnome-keyring-daemon --unlock --foreground --components=secrets >/dev/null
EOF
cat > "$dir/services/org.freedesktop.secrets.service" <<EOF
[D-BUS Service]
Name=org.freedesktop.secrets
Exec=/bin/sh $dir/keyring.sh
EOF
# The bus's own service folder comes first: the first definition of a name
# wins over the system's.
cat > "$dir/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <servicedir>$dir/services</servicedir>
  <include>/usr/share/dbus-1/session.conf</include>
</busconfig>
EOF
status=0
dbus-run-session --config-file="$dir/bus.conf" -- "$@" || status=$?
exit "$status"
