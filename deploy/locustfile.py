"""Load for the course app as its users make it, for Locust.

    locust -f deploy/locustfile.py --host http://localhost:8080

opens Locust's web page (http://localhost:8089) to start and watch a run;
``--headless --users 50 --spawn-rate 10 --run-time 1m`` runs one without it.

Two kinds of users: visitors, who browse without an account, and members,
who sign up, log in, and look at their own profile. Locust picks the class
of each new simulated user by ``weight``, and each user's next task by the
tasks' weights: the traffic's mix is what these numbers say.
"""

import uuid

from locust import FastHttpUser, between, task


class Visitor(FastHttpUser):
    """Someone browsing the catalogue and the statistics, without logging in."""

    # Three visitors for every member: most traffic is anonymous reading.
    weight = 3
    # A person reads a page before the next click: 1 to 3 s between tasks.
    wait_time = between(1, 3)

    @task(5)
    def list_catalogue(self) -> None:
        # The large, cacheable response: nginx serves it from its cache.
        self.client.get("/catalogue")

    @task(2)
    def revalidate_catalogue(self) -> None:
        # A browser that has the catalogue asks whether it changed: with the
        # ETag it got, the answer is 304 and no body. Locust counts 304 as a
        # success. name= gives the second its own line in the statistics.
        etag = self.client.get("/catalogue").headers.get("ETag", "")
        self.client.get(
            "/catalogue", headers={"If-None-Match": etag}, name="/catalogue (304)"
        )

    @task(2)
    def read_stats(self) -> None:
        # Cached in the app for a few seconds: one SQL query per TTL.
        self.client.get("/stats/users")


class Member(FastHttpUser):
    """Someone with an account: signs up and logs in once, then uses the token."""

    weight = 1
    wait_time = between(1, 3)

    def on_start(self) -> None:
        # Each simulated member is a new user: a unique email, so that
        # sign-ups never collide (409) however many members run.
        self.email = f"member-{uuid.uuid4().hex}@example.com"
        self.password = "a long enough password"
        self.headers: dict[str, str] = {}  # no token yet
        self.client.post(
            "/users/",
            json={"name": "Load Test", "email": self.email, "password": self.password},
        )
        self.log_in()

    def log_in(self) -> None:
        # OAuth2's password flow: a form with `username`, not JSON.
        # catch_response: this code, not the status, says what succeeded.
        form = {"username": self.email, "password": self.password}
        with self.client.post("/token", data=form, catch_response=True) as response:
            if response.status_code == 200:
                token = response.json()["access_token"]
                self.headers = {"Authorization": f"Bearer {token}"}
            elif response.status_code == 429:
                # Chapter 07's login limit at work (5 a minute per account
                # and address): not a failure, but counted on a line of its
                # own. The member keeps the token it has.
                response.request_meta["name"] = "/token (limited)"
                response.success()
            else:
                response.failure(f"no new token: HTTP {response.status_code}")

    @task(30)
    def read_profile(self) -> None:
        self.client.get("/users/me", headers=self.headers)

    @task(1)
    def log_in_again(self) -> None:
        # Logging in is the expensive request (an Argon2 hash check, by
        # design). One task in 31 is a login, about one a minute (a task
        # every 2 s): a member seldom meets the limit of 5 a minute.
        self.log_in()
