"""Gradebook, feedback and exports: what students get back (feedback, rendered, sanitised and served with a
Content-Security-Policy by render, with its templates), the grades CSV and the learning platforms' gradebooks
(export, gradebooks), and a late-penalty policy (late). Uses the course, and the intake group to find the
exchange (a lesson not handed out is no one's missing 0).
"""
