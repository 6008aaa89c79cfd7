"""JupyterHub configuration for running effnn for a whole class (a template, not a running server).

One instructor account ("grader-effnn") owns the course root and runs the Formgrader as a hub service
(its lab has every nbgrader tool). Every user's own server is a student's: it reads the settings in
course/jupyterhub/student/ (JUPYTER_CONFIG_PATH below), which switch off Create Assignment, Formgrader
and Course List and keep the Assignment List, through which students fetch, submit and receive
feedback over nbgrader's exchange (configured in /etc/jupyter/nbgrader_config.py: see
course/jupyterhub/nbgrader_config.py).
Install on the hub machine: the course environment (`make env`), `jupyterhub`, and a spawner that
fits your site (the local-process spawner below is the simplest). Start with:

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

# Accounts: replace with your institution's authenticator (LDAP, OAuth, ...).
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
