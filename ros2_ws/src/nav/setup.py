"""colcon / ament_python build of the ROS 2 package ``nav``.

The pure cores (sim, perception, policy, configs) are installed from the repository root with
``pip install .``; this package holds the ROS layer.
"""

from setuptools import setup

PACKAGE = "nav"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=[PACKAGE],
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="nav-stack team",
    description="nav-stack ROS 2 nodes",
    license="Apache-2.0",
    entry_points={"console_scripts": ["nav = nav.cli:main"]},
)
