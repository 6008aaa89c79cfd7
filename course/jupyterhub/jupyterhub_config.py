"""TEMPLATE, not tested here: JupyterHub for a whole class on one course server (or several sharing
a filesystem), one Unix account per person. The tested demo of the same course is `make hub`
(course/jupyterhub/demo_hub_config.py); this file swaps its demo-only parts for real ones:

- authenticator: PAM (JupyterHub's default: the machine's own accounts) instead of DummyAuthenticator;
  for institutional single sign-on, OAuthenticator (`pip install oauthenticator`), see below;
- spawner: LocalProcessSpawner (JupyterHub's default: each server runs as its user's Unix account)
  instead of the demo's SimpleLocalProcessSpawner, which runs everyone as the hub's user;
- exchange: nbgrader's, in a folder every account can reach (/srv/nbgrader/exchange, mode 1777; on
  several machines a shared filesystem such as NFS mounted there): install
  course/jupyterhub/nbgrader_config.py as /etc/jupyter/nbgrader_config.py.

The Python environment must be readable by every account (e.g. /opt/effnn/.venv), and the grading
account's clone (with solutions/ and autograder/) readable by it alone (chmod 700): students'
kernels must not reach the hidden checks. tests/test_exchange_cycle.py checks exactly that for the
exchange with separate Unix users. One instructor account ("grader-effnn") owns the course root and
runs the Formgrader as a hub service. Every user's own server is a student's: it reads the settings
in course/jupyterhub/student/ (JUPYTER_CONFIG_PATH below), which switch off Create Assignment,
Formgrader and Course List and keep the Assignment List. Start with:

    jupyterhub -f course/jupyterhub/jupyterhub_config.py
"""
c = get_config()  # noqa: F821

# The grading account's clone of this repository (the course root is its course/ folder).
COURSE_REPO = "/home/grader-effnn/effnn"

c.JupyterHub.ip = "0.0.0.0"
c.JupyterHub.port = 8000
# Single-user servers start in the user's home; students see lectures and assignments after fetch.
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
# Students' servers get the students' nbgrader tools only. (Set no MPLBACKEND here: the kernels'
# default, Jupyter's inline backend, is what draws the lectures' figures.)
c.Spawner.environment = {"JUPYTER_CONFIG_PATH": f"{COURSE_REPO}/course/jupyterhub/student"}

# Accounts: PAM (the default) logs in the machine's Unix users. Institutional single sign-on instead:
# c.JupyterHub.authenticator_class = "oauthenticator.generic.LocalGenericOAuthenticator"  # pip install oauthenticator
# c.LocalGenericOAuthenticator.create_system_users = True  # a Unix account per student, for LocalProcessSpawner
# (client_id, client_secret, oauth_callback_url, authorize_url, token_url, userdata_url: from your provider)
c.Authenticator.allowed_users = {"grader-effnn", "instructor1"}  # + students, or use groups
c.Authenticator.admin_users = {"instructor1"}

# The course's grading account runs a named server for formgrader.
c.JupyterHub.load_groups = {
    "formgrade-effnn": {"users": ["instructor1", "grader-effnn"]},
    "nbgrader-effnn": {"users": []},  # add student usernames here
}
c.JupyterHub.load_roles = [
    {"name": "formgrader-effnn", "groups": ["formgrade-effnn"],
     "scopes": ["access:services!service=effnn", "read:users:name"]},
]
c.JupyterHub.services = [
    {"name": "effnn", "url": "http://127.0.0.1:9999",
     # As `make formgrader`: run in course/ (nbgrader reads nbgrader_config.py there) and serve the
     # whole repository, so Formgrader's links to ../solutions and ../assignments open.
     "command": ["jupyterhub-singleuser", "--debug", f"--ServerApp.root_dir={COURSE_REPO}"],
     "user": "grader-effnn", "cwd": f"{COURSE_REPO}/course",
     "environment": {"JUPYTERHUB_DEFAULT_URL": "/lab"}, "api_token": "replace-with-a-secret-token"},
]
