"""``ros2 launch nav bringup.launch.py [sim:=true] [robot:=turtlebot3] [instruction:='go to the red cube']``.

The nodes come from the one graph declaration, ``configs/graph.yaml`` (``nav.graph.declaration.load_graph``),
which ``nav bringup`` also reads: ``when: sim`` nodes run only with ``sim:=true``, ``when: robot``
nodes only without it. Every node gets ``config`` (ros.yaml) as a parameter. After ``colcon build``
the configs are read from ``share/nav/configs`` (``$NAV_CONFIG_DIR`` overrides), see
``nav.graph.paths.resolve_config_path``.
"""

import uuid

# ruff sorts `launch` as first-party because of this folder's name; ROS's launch is third-party.
from launch import LaunchDescription  # noqa: I001
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from configs.robot import ROBOT_PROFILE_ENV
from nav.graph.declaration import load_graph
from nav.graph.paths import resolve_config_path


def generate_launch_description() -> LaunchDescription:
    graph = load_graph(resolve_config_path("graph.yaml"))
    sim = LaunchConfiguration("sim")
    actions = [
        DeclareLaunchArgument("sim", default_value="false", description="run the simulator in place of the robot"),
        DeclareLaunchArgument(
            "instruction", default_value="", description="for the simulator (empty: the sim node's default)"
        ),
        DeclareLaunchArgument(
            "robot",
            default_value="",
            description="robot profile: a name of configs/robots or a file (empty: robot.yaml)",
        ),
        SetEnvironmentVariable(  # every node reads the same profile (configs.robot.robot_profile_path)
            ROBOT_PROFILE_ENV,
            LaunchConfiguration("robot"),
            condition=IfCondition(PythonExpression(["'", LaunchConfiguration("robot"), "' != ''"])),
        ),
        DeclareLaunchArgument(
            "config", default_value=str(resolve_config_path("ros.yaml")), description="ros.yaml of every node"
        ),
    ]
    conditions = {"sim": IfCondition(sim), "robot": UnlessCondition(sim), "always": None}
    run_id = uuid.uuid4().hex[:12]
    for spec in graph.nodes:
        params = {"config": ParameterValue(LaunchConfiguration("config"), value_type=str)}
        if spec.module == "nav.nodes.sim_node":
            params["instruction"] = ParameterValue(LaunchConfiguration("instruction"), value_type=str)
        if spec.module == "nav.nodes.agent_node":  # a respawned agent takes back this run's instruction
            params["run_id"] = run_id
        if spec.sim_time:  # its ROS clock follows /clock when the simulator runs (NodeSpec.uses_sim_time)
            params["use_sim_time"] = ParameterValue(sim, value_type=bool)
        actions.append(
            Node(
                package="nav",
                executable=spec.executable,
                name=spec.name,
                parameters=[params],
                remappings=list(spec.remappings),
                respawn=spec.respawn,
                respawn_delay=1.0,
                output="screen",
                condition=conditions[spec.when],
            )
        )
    return LaunchDescription(actions)
