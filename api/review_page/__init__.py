"""The reviewer page's files (HTML templates, the script, the stylesheet), served by `api.routes.review`.

Plain files rather than strings in Python, so that they can be read and edited as what they are; they ship as
package data (pyproject.toml), so an installed package serves the same page as a checkout.
"""
