"""Uses the Python client openapi-generator made from /openapi.json against a
running server (tests/client.rs runs it): log in, read, write, log out.

    PYTHONPATH=<generated client> python3 generated_client.py BASE_URL
"""
import sys

import tracks_client
from tracks_client.exceptions import ApiException

base = sys.argv[1]
client = tracks_client.ApiClient(tracks_client.Configuration(host=base))


def check(condition, what):
    if not condition:
        sys.exit(f"failed: {what}")
    print(f"ok: {what}")


tracks = tracks_client.TracksApi(client).get_tracks_tracks_get(skip=1, limit=2)
check([t.id for t in tracks] == [2, 3], "get_tracks_tracks_get pages typed tracks")

login = tracks_client.LoginApi(client).login_login_post_with_http_info(username="john", password="password")
check(login.status_code == 200 and login.data.success is True, "login_login_post logs in")
# Login sets two cookies (the device cookie of the lockout rule, then the session);
# the session is the one the document names. The generated client keeps headers in
# a dict, so it sees the last one, which the server makes the session cookie.
set_cookies = [v for k, v in login.headers.items() if k.lower() == "set-cookie"]
if len(set_cookies) == 1 and ", my_session_id" in set_cookies[0]:
    # Some header maps join repeated headers with ", ".
    set_cookies = set_cookies[0].split(", ")
names = {c.split(";")[0].split("=", 1)[0]: c.split(";")[0].split("=", 1)[1] for c in set_cookies if "=" in c}
check("my_session_id" in names, "the session cookie is the documented one")
value = names["my_session_id"]

config = tracks_client.Configuration(host=base, api_key={"APIKeyCookie": value})
client = tracks_client.ApiClient(config)
me = tracks_client.UsersApi(client).get_current_user_users_me_get()
check(me.username == "john", "get_current_user_users_me_get sees the session")

track = tracks_client.Track(id=5, title="Yellow", artist="Coldplay", year=2000)
created = tracks_client.TracksApi(client).create_track_tracks_post(track)
check(created.id == 5 and created.album is None, "create_track_tracks_post stores a track")

out = tracks_client.LogoutApi(client).logout_logout_post()
check(out.success is True, "logout_logout_post logs out")
try:
    tracks_client.UsersApi(client).get_current_user_users_me_get()
    sys.exit("failed: the session still works after logout")
except ApiException as e:
    check(e.status == 401, "after logout the session is refused")
print("generated client checks passed")
