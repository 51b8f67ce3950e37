# The Debian package's checks (k, l, m), sourced by inside.sh after the `make install`
# checks, inside the booted namespace: its functions and variables (pass, fail, sc, prop,
# login, code, client_loop, $T, $B, $SVC, $SOCK, $TUSER, $TPW) are inside.sh's.
#   k-deb-install  the `make install` tree removed, `dpkg -i` of WORK's amd64 .deb
#   l-deb-upgrade  the same package repacked as VERSION+test1, installed under a client loop
#   m-deb-remove   `dpkg -r` (units stopped and disabled, config, users and state kept), then
#                  `dpkg -i` again (enabled and serving as before)
#   n-deb-purge    `dpkg --purge`
# dpkg writes only the namespace's /var/lib/dpkg and /etc (overlays on tmpfs), never the host's.

DEB_VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$WORK/Cargo.toml" | head -n 1)
DEB=$WORK/target/dist/tracksd_${DEB_VERSION}_amd64.deb
DEB_CONF=/etc/tracksd/tracksd.toml
DEB_USERS=/etc/tracksd/users
DEB_MODE=""   # how the first user was added (k), for l's and m's details
DEB_OK=0      # k got as far as a login; l, m and n need the installed package
DEB_NEW=""    # l's repacked package, which m installs again

dpkg_version() { dpkg-query -W -f '${Version}' tracksd 2>/dev/null; }
sums() { sha256sum "$@" 2>&1 | awk '{print $1}' | paste -sd' '; }
state_files() { ls /var/lib/private/tracksd/tracks.json /var/lib/private/tracksd/session.key 2>/dev/null; }

# The first user, with `tracksd user add` (its password from stdin), and a local change
# to the conffile, which the upgrade must keep.
deb_add_user() {
  DEB_MODE="tracksd user add"
  printf '%s\n' "$TPW" | timeout 60 /usr/bin/tracksd user add "$TUSER" --config $DEB_CONF > "$T/useradd.out" 2>&1 \
    || { DEB_ERR="tracksd user add failed: $(head -c 300 "$T/useradd.out")"; return 1; }
  echo '# lsd: a local change the upgrade must keep' >> $DEB_CONF
  /usr/bin/tracksd check-config --config $DEB_CONF > "$T/deb-cc.out" 2>&1 \
    || { DEB_ERR="check-config after adding the user: $(head -c 300 "$T/deb-cc.out")"; return 1; }
  # The service runs already (it starts without users) or failed on the old key: reload or start.
  if [ "$(prop $SVC ActiveState)" = active ]; then sc reload $SVC; else sc reset-failed $SVC; sc restart $SVC; fi
}

check_k() {
  log "== k-deb-install ($DEB)"
  [ -f "$DEB" ] || { fail k-deb-install "no $DEB (make deb-amd64)"; return; }
  # A clean system: the `make install` tree and everything the checks above left.
  reset_units
  timeout 60 make -C "$WORK" uninstall PREFIX=/usr > "$T/uninstall.log" 2>&1
  rm -rf /etc/tracksd /var/lib/tracksd /var/lib/private/tracksd "$DROPIN" /etc/systemd/system/$SOCK.d
  sc daemon-reload; mkdir -p "$DROPIN"
  local t0 t1 rc en_sock en_svc st_sock st_svc act pid uid tuid perm c1 c2 c3 ok=1
  t0=$(ms); timeout 120 dpkg -i "$DEB" > "$T/dpkg-i.log" 2>&1 < /dev/null; rc=$?; t1=$(ms)
  log "dpkg -i: rc=$rc; $(tr '\n' '|' < "$T/dpkg-i.log" | cut -c1-600)"
  sleep 0.5
  en_sock=$(systemctl is-enabled $SOCK 2>&1); en_svc=$(systemctl is-enabled $SVC 2>&1)
  st_sock=$(prop $SOCK ActiveState)/$(prop $SOCK SubState)
  perm=$(stat -c '%a %U:%G %s' $DEB_USERS 2>&1)
  local d="dpkg -i rc=$rc in $(secs $t0 $t1) s ($(dpkg_version)); enabled: socket $en_sock, service $en_svc; socket $st_sock, service $(prop $SVC ActiveState); users file $perm; user tracksd: $(getent passwd tracksd | cut -d: -f1,3,7)"
  [ $rc = 0 ] && [ "$en_sock" = enabled ] && [ "$en_svc" = enabled ] && [ "$st_sock" = active/running -o "$st_sock" = active/listening ] \
    && [ "$perm" = "640 root:tracksd 0" ] || ok=0
  grep -q 'tracksd user add' "$T/dpkg-i.log" || { d="$d; postinst did not say how to add a user"; ok=0; }
  DEB_ERR=""
  if ! deb_add_user; then fail k-deb-install "$d; $DEB_ERR"; return; fi
  wait_200 10
  st_svc=$(prop $SVC ActiveState)/$(prop $SVC SubState); pid=$(main_pid)
  if tr '\0' '\n' < /proc/"$pid"/environ 2>/dev/null | grep -q '^LISTEN_FDS=1$'; then act="the socket's fd (LISTEN_FDS=1)"; else act="no LISTEN_FDS"; fi
  uid=$(awk '/^Uid:/ {print $2}' /proc/"$pid"/status 2>/dev/null); tuid=$(id -u tracksd 2>/dev/null)
  c1=$(login "$T/jk"); c2=$(curl -s -m 5 -o "$T/k-me.body" -w '%{http_code}' -b "$T/jk" $B/users/me)
  c3=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -b "$T/jk" -H 'Content-Type: application/json' \
       -d '{"id":4242,"title":"kept across the upgrade","artist":"lsd","year":2026}' $B/tracks)
  d="$d; first user: $DEB_MODE; service $st_svc on $act, uid ${uid:-?} (user tracksd: ${tuid:-none}); login $c1, /users/me $c2 $(head -c 60 "$T/k-me.body"), POST /tracks $c3"
  [ "$st_svc" = active/running ] && [ "$act" != "no LISTEN_FDS" ] && [ -n "$tuid" ] && [ "$uid" = "$tuid" ] \
    && [ "$c1" = 200 ] && [ "$c2" = 200 ] && grep -q "\"$TUSER\"" "$T/k-me.body" && [ "$c3" = 200 ] || ok=0
  if [ $ok = 1 ]; then DEB_OK=1; pass k-deb-install "$d"; else fail k-deb-install "$d; journal: $(journal_grep $((t0 / 1000)) 'error|fail|users' 3)"; fi
}

check_l() {
  log "== l-deb-upgrade"
  [ $DEB_OK = 1 ] || { fail l-deb-upgrade "not run: k-deb-install did not pass"; return; }
  local new=$DEB_VERSION+test1 re=$T/repack newdeb rc t0 t1
  rm -rf "$re"; dpkg-deb -R "$DEB" "$re"
  sed -i "s/^Version: .*/Version: $new/" "$re/DEBIAN/control"
  newdeb=$T/tracksd_${new}_amd64.deb
  dpkg-deb --root-owner-group --build "$re" "$newdeb" > /dev/null || { fail l-deb-upgrade "repacking as $new failed"; return; }
  DEB_NEW=$newdeb
  local inv0 ent0 nref0 pid0 conf0 users0 state0 inv1 ent1 nref1 pid1 conf1 users1 state1 counts me tr sock ok=1
  inv0=$(prop $SOCK InvocationID); ent0=$(prop $SOCK ActiveEnterTimestampMonotonic); nref0=$(prop $SOCK NRefused)
  pid0=$(main_pid); conf0=$(sums $DEB_CONF); users0=$(sums $DEB_USERS); state0=$(sums $(state_files))
  rm -f "$T/loop.stop"
  client_loop "$T/l-loop.out" 60 "$T/loop.stop" &
  local lp=$!
  sleep 1
  t0=$(ms); timeout 120 dpkg -i "$newdeb" > "$T/dpkg-u.log" 2>&1 < /dev/null; rc=$?; t1=$(ms)
  log "dpkg -i (upgrade): rc=$rc; $(tr '\n' '|' < "$T/dpkg-u.log" | cut -c1-600)"
  wait_200 10; sleep 1
  touch "$T/loop.stop"; wait $lp
  counts=$(tail -n 1 "$T/l-loop.out")
  inv1=$(prop $SOCK InvocationID); ent1=$(prop $SOCK ActiveEnterTimestampMonotonic); nref1=$(prop $SOCK NRefused)
  pid1=$(main_pid); conf1=$(sums $DEB_CONF); users1=$(sums $DEB_USERS); state1=$(sums $(state_files))
  sock=$(prop $SOCK ActiveState)/$(prop $SOCK SubState)
  me=$(code -b "$T/jk" $B/users/me); tr=$(code $B/tracks/4242)
  local d="dpkg -i $new rc=$rc in $(secs $t0 $t1) s, now $(dpkg_version); client loop (new connection per request) throughout: $counts; socket $sock, InvocationID $([ "$inv0" = "$inv1" ] && echo same || echo "changed $inv0 -> $inv1"), ActiveEnter $([ "$ent0" = "$ent1" ] && echo same || echo changed), NRefused $nref0 -> $nref1; service MainPID $pid0 -> $pid1; conffile $([ "$conf0" = "$conf1" ] && echo kept || echo CHANGED), users file $([ "$users0" = "$users1" ] && echo kept || echo CHANGED), tracks.json+session.key $([ "$state0" = "$state1" ] && echo kept || echo CHANGED); cookie from before $me, GET /tracks/4242 $tr"
  [ $rc = 0 ] && [ "$(dpkg_version)" = "$new" ] || ok=0
  echo "$counts" | grep -Eq '^200=[0-9]+$' || ok=0
  [ "$inv0" = "$inv1" ] && [ "$ent0" = "$ent1" ] && [ "$nref0" = "$nref1" ] || ok=0
  case "$sock" in active/running|active/listening) ;; *) ok=0 ;; esac
  [ -n "$pid1" ] && [ "$pid1" != 0 ] && [ "$pid1" != "$pid0" ] || ok=0
  [ "$conf0" = "$conf1" ] && [ "$users0" = "$users1" ] && [ -n "$state0" ] && [ "$state0" = "$state1" ] || ok=0
  [ "$me" = 200 ] && [ "$tr" = 200 ] || ok=0
  if [ $ok = 1 ]; then pass l-deb-upgrade "$d"; else fail l-deb-upgrade "$d; journal: $(journal_grep $((t0 / 1000)) 'error|fail|refus' 3)"; fi
}

check_m() {
  log "== m-deb-remove"
  [ $DEB_OK = 1 ] || { fail m-deb-remove "not run: k-deb-install did not pass"; return; }
  local rc rc2 st kept conf0 users0 state0 en sock svc c me ok=1
  conf0=$(sums $DEB_CONF); users0=$(sums $DEB_USERS); state0=$(sums $(state_files))
  timeout 120 dpkg -r tracksd > "$T/dpkg-r.log" 2>&1 < /dev/null; rc=$?
  log "dpkg -r: rc=$rc; $(tr '\n' '|' < "$T/dpkg-r.log" | cut -c1-400)"
  st=$(dpkg-query -W -f '${db:Status-Status}' tracksd 2>&1); c=$(CT=2 code $B/healthz)
  kept="conffile $([ "$(sums $DEB_CONF)" = "$conf0" ] && echo kept || echo CHANGED), users file $([ "$(sums $DEB_USERS)" = "$users0" ] && echo kept || echo CHANGED), state $([ -n "$state0" ] && [ "$(sums $(state_files))" = "$state0" ] && echo kept || echo CHANGED)"
  local d="dpkg -r rc=$rc: status $st, units $(prop $SOCK LoadState)/$(prop $SVC LoadState), /healthz $c, /usr/bin/tracksd $([ -e /usr/bin/tracksd ] && echo present || echo gone); $kept"
  [ $rc = 0 ] && [ "$st" = config-files ] && [ "$(prop $SOCK LoadState)" = not-found ] && [ "$c" = 000 ] \
    && [ ! -e /usr/bin/tracksd ] && [ "$kept" = "conffile kept, users file kept, state kept" ] || ok=0
  timeout 120 dpkg -i "$DEB_NEW" > "$T/dpkg-i2.log" 2>&1 < /dev/null; rc2=$?
  log "dpkg -i again: rc=$rc2; $(tr '\n' '|' < "$T/dpkg-i2.log" | cut -c1-400)"
  wait_200 10
  en=$(systemctl is-enabled $SOCK 2>&1)/$(systemctl is-enabled $SVC 2>&1)
  sock=$(prop $SOCK ActiveState); svc=$(prop $SVC ActiveState); me=$(code -b "$T/jk" $B/users/me)
  d="$d; dpkg -i again rc=$rc2: enabled $en, socket $sock, service $svc, cookie from k $me"
  [ $rc2 = 0 ] && [ "$en" = enabled/enabled ] && [ "$sock" = active ] && [ "$svc" = active ] && [ "$me" = 200 ] || ok=0
  if [ $ok = 1 ]; then pass m-deb-remove "$d"; else fail m-deb-remove "$d"; fi
}

check_n() {
  log "== n-deb-purge"
  [ $DEB_OK = 1 ] || { fail n-deb-purge "not run: k-deb-install did not pass"; return; }
  local rc t0 t1 left st en c ok=1
  t0=$(ms); timeout 120 dpkg --purge tracksd > "$T/dpkg-p.log" 2>&1 < /dev/null; rc=$?; t1=$(ms)
  log "dpkg --purge: rc=$rc; $(tr '\n' '|' < "$T/dpkg-p.log" | cut -c1-600)"
  left=$(ls -d /etc/tracksd /var/lib/tracksd /var/lib/private/tracksd /usr/bin/tracksd \
         /usr/lib/systemd/system/$SVC /usr/lib/systemd/system/$SOCK /usr/lib/sysusers.d/tracksd.conf 2>/dev/null | paste -sd' ')
  st=$(dpkg-query -W -f '${db:Status-Status}' tracksd 2>&1)
  en=$(systemctl is-enabled $SOCK 2>&1 | head -n 1); c=$(CT=2 code $B/healthz)
  local d="dpkg --purge rc=$rc in $(secs $t0 $t1) s; dpkg status: ${st:-none}; left: ${left:-nothing}; $SOCK is-enabled: $en, units $(prop $SOCK LoadState)/$(prop $SVC LoadState); /healthz $c"
  [ $rc = 0 ] && [ -z "$left" ] && [ "$c" = 000 ] && [ "$(prop $SOCK LoadState)" = not-found ] || ok=0
  case "$st" in not-installed|*"no packages found"*|"") ;; *) ok=0 ;; esac
  if [ $ok = 1 ]; then pass n-deb-purge "$d"; else fail n-deb-purge "$d"; fi
}
