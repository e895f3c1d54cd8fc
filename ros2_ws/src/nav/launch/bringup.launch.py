"""``ros2 launch nav bringup.launch.py [sim:=true] [robot:=turtlebot3] [instruction:='go to the red cube']
[world_seed:=3] [params_file:=robot_params.yaml] [record:=bags/run1]``: what ``nav bringup`` runs.

The nodes come from the one graph declaration, ``configs/graph.yaml`` (``nav.graph.declaration.load_graph``),
which ``nav bringup`` also reads: ``when: sim`` nodes run only with ``sim:=true``, ``when: robot``
nodes only without it. Every node gets ``config`` (ros.yaml) as a parameter, and the params file when
one is given. The instruction goes to the simulator with ``sim:=true``, else to the agent (its first
goal). ``record:=DIR`` adds the recorder. After ``colcon build`` the configs are read from
``share/nav/configs`` (``$NAV_CONFIG_DIR`` overrides), see ``nav.graph.paths.resolve_config_path``.
"""

import uuid

# ruff sorts `launch` as first-party because of this folder's name; ROS's launch is third-party.
from launch import LaunchDescription  # noqa: I001
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from configs.robot import ROBOT_PROFILE_ENV
from nav.graph.declaration import RECORDER, load_graph
from nav.graph.paths import resolve_config_path

ARGUMENTS = {
    "sim": ("false", "run the simulator in place of the robot"),
    "instruction": ("", "the goal: the simulator's (empty: its default), or on a robot the agent's first"),
    "robot": ("", "robot profile: a name of configs/robots or a file (empty: robot.yaml)"),
    "config": (str(resolve_config_path("ros.yaml")), "ros.yaml of every node"),
    "params_file": ("", "a ROS params file (<node>: ros__parameters: ...) for every node"),
    "world_seed": ("", "the simulated world (empty: the first that holds the named object)"),
    "record": ("", "record a rosbag2 bag into this new folder (empty: no recording)"),
}


def generate_launch_description() -> LaunchDescription:
    graph = load_graph(resolve_config_path("graph.yaml"))
    actions = [DeclareLaunchArgument(name, default_value=d, description=h) for name, (d, h) in ARGUMENTS.items()]
    actions.append(
        SetEnvironmentVariable(  # every node reads the same profile (configs.robot.robot_profile_path)
            ROBOT_PROFILE_ENV,
            LaunchConfiguration("robot"),
            condition=IfCondition(PythonExpression(["'", LaunchConfiguration("robot"), "' != ''"])),
        )
    )
    actions.append(OpaqueFunction(function=graph_nodes, args=[graph, uuid.uuid4().hex[:12]]))
    return LaunchDescription(actions)


def graph_nodes(context, graph, run_id):  # type: ignore[no-untyped-def]
    """The graph's Node actions, built once the launch arguments are known."""
    sim = LaunchConfiguration("sim")
    given = {name: LaunchConfiguration(name).perform(context) for name in ARGUMENTS}
    on_sim = IfCondition(sim).evaluate(context)
    conditions = {"sim": IfCondition(sim), "robot": UnlessCondition(sim), "always": None}
    specs = [RECORDER, *graph.nodes] if given["record"] else list(graph.nodes)
    nodes = []
    for spec in specs:
        params = {"config": ParameterValue(LaunchConfiguration("config"), value_type=str)}
        if spec.module == "nav.nodes.sim_node":
            params["instruction"] = given["instruction"]
            if given["world_seed"]:
                params["world_seed"] = int(given["world_seed"])
        if spec.module == "nav.nodes.agent_node":  # a respawned agent takes back this run's instruction
            params["run_id"] = run_id
            if given["instruction"] and not on_sim:
                params["instruction"] = given["instruction"]
        if spec.module == RECORDER.module:
            params["out"] = given["record"]
        if spec.sim_time:  # its ROS clock follows /clock when the simulator runs (NodeSpec.uses_sim_time)
            params["use_sim_time"] = on_sim
        nodes.append(
            Node(
                package="nav",
                executable=spec.executable,
                name=spec.name,
                parameters=[params, given["params_file"]] if given["params_file"] else [params],
                remappings=list(spec.remappings),
                respawn=spec.respawn,
                respawn_delay=1.0,
                output="screen",
                condition=conditions[spec.when],
            )
        )
    return nodes
