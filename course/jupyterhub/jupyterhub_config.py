"""JupyterHub configuration for running effnn for a whole class (a template, not a running server).

One instructor account ("grader-effnn") owns the course root; students get the nbgrader Assignment
List / Course List extensions and fetch, submit and receive feedback through nbgrader's exchange.
Install on the hub machine: the course environment (`make env`), `jupyterhub`, and a spawner that
fits your site (the local-process spawner below is the simplest). Start with:

    jupyterhub -f course/jupyterhub/jupyterhub_config.py
"""
c = get_config()  # noqa: F821

c.JupyterHub.ip = "0.0.0.0"
c.JupyterHub.port = 8000
# Single-user servers start in the user's home; students see lectures and assignments after fetch.
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"

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
     "command": ["jupyterhub-singleuser", "--debug"],
     "user": "grader-effnn", "cwd": "/home/grader-effnn/effnn/course",
     "environment": {"JUPYTERHUB_DEFAULT_URL": "/lab"}, "api_token": "replace-with-a-secret-token"},
]
