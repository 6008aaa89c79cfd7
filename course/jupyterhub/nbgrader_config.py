"""nbgrader settings for a multi-user deployment: copy to /etc/jupyter/nbgrader_config.py.

Every user (instructors and students) reads this file. It names the course and the exchange, the
shared folder through which `nbgrader release_assignment`, `fetch_assignment`, `submit`, `collect`
and `release_feedback` move files. The instructor's own course settings stay in
course/nbgrader_config.py; the grading command (`python -m autograder.grade`) works on the collected
`submitted/` folder exactly as on one machine.
"""
c = get_config()  # noqa: F821

c.CourseDirectory.course_id = "effnn"
# A folder every account reaches: local, or a shared filesystem (NFS, CephFS) mounted at the same path on
# every machine of the hub. Create it world-writable with the sticky bit: chmod 1777. (Kubernetes pods
# share no folder: use ngshare there, see course/jupyterhub/z2jh-values.yaml.)
c.Exchange.root = "/srv/nbgrader/exchange"
c.Exchange.path_includes_course = True
c.Exchange.timezone = "UTC"
