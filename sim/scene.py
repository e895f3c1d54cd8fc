"""Build a :class:`~sim.world.World` into a headless PyBullet client (one client per env)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sim.bullet import p
from sim.config import COLOURS, NEUTRAL_COLOURS, SimConfig
from sim.world import World


def connect() -> int:
    """A new headless (DIRECT) PyBullet client."""
    client = p.connect(p.DIRECT)
    if client < 0:
        raise RuntimeError("could not start a PyBullet DIRECT client")
    return client


def _rgba(name: str) -> list[float]:
    rgb = COLOURS.get(name) or NEUTRAL_COLOURS[name]
    return [*rgb, 1.0]


@dataclass
class Scene:
    """Body ids of one built world."""

    client: int
    floor: int
    robot: int
    walls: list[int] = field(default_factory=list)
    obstacles: list[int] = field(default_factory=list)
    targets: list[int] = field(default_factory=list)
    """Same order as ``world.targets``."""


def build_scene(client: int, world: World, config: SimConfig) -> Scene:
    """Reset the client and create floor, walls, obstacles, targets and the robot (at the origin)."""
    cid = client
    p.resetSimulation(physicsClientId=cid)
    p.setGravity(0, 0, 0, physicsClientId=cid)
    p.setTimeStep(1.0 / config.task.physics_hz, physicsClientId=cid)
    room = config.room
    half_w, half_d = world.width / 2.0, world.depth / 2.0
    t = room.wall_thickness

    def box(half: list[float], pos: list[float], colour: str, yaw: float = 0.0, mass: float = 0.0) -> int:
        col = p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=cid)
        vis = p.createVisualShape(p.GEOM_BOX, halfExtents=half, rgbaColor=_rgba(colour), physicsClientId=cid)
        orn = p.getQuaternionFromEuler([0, 0, yaw])
        return p.createMultiBody(mass, col, vis, pos, orn, physicsClientId=cid)

    def cylinder(radius: float, height: float, pos: list[float], colour: str, mass: float = 0.0) -> int:
        col = p.createCollisionShape(p.GEOM_CYLINDER, radius=radius, height=height, physicsClientId=cid)
        vis = p.createVisualShape(
            p.GEOM_CYLINDER, radius=radius, length=height, rgbaColor=_rgba(colour), physicsClientId=cid
        )
        return p.createMultiBody(mass, col, vis, pos, physicsClientId=cid)

    floor = box([half_w + t, half_d + t, 0.01], [0, 0, -0.01], room.floor_colour)
    h = room.wall_height
    walls = [
        box([half_w + t, t / 2, h / 2], [0, half_d + t / 2, h / 2], room.wall_colour),
        box([half_w + t, t / 2, h / 2], [0, -half_d - t / 2, h / 2], room.wall_colour),
        box([t / 2, half_d + t, h / 2], [half_w + t / 2, 0, h / 2], room.wall_colour),
        box([t / 2, half_d + t, h / 2], [-half_w - t / 2, 0, h / 2], room.wall_colour),
    ]
    obstacles = []
    for ob in world.obstacles:
        if ob.shape == "box":
            obstacles.append(
                box([ob.size_x / 2, ob.size_y / 2, ob.height / 2], [ob.x, ob.y, ob.height / 2], ob.colour, ob.yaw)
            )
        else:
            obstacles.append(cylinder(ob.size_x / 2, ob.height, [ob.x, ob.y, ob.height / 2], ob.colour))
    targets = []
    for tg in world.targets:
        if tg.shape == "cube":
            targets.append(box([tg.size / 2] * 3, [tg.x, tg.y, tg.size / 2], tg.colour))
        elif tg.shape == "cylinder":
            targets.append(cylinder(tg.size / 2, tg.height, [tg.x, tg.y, tg.height / 2], tg.colour))
        else:
            r = tg.size / 2
            col = p.createCollisionShape(p.GEOM_SPHERE, radius=r, physicsClientId=cid)
            vis = p.createVisualShape(p.GEOM_SPHERE, radius=r, rgbaColor=_rgba(tg.colour), physicsClientId=cid)
            targets.append(p.createMultiBody(0, col, vis, [tg.x, tg.y, r], physicsClientId=cid))

    rc = config.robot
    robot = cylinder(rc.radius, rc.height, [0, 0, rc.height / 2 + 0.01], rc.colour, mass=rc.mass)
    # The base slides on velocity commands; it never touches the floor.
    p.changeDynamics(robot, -1, lateralFriction=0.0, linearDamping=0.0, angularDamping=0.0, physicsClientId=cid)
    p.setCollisionFilterPair(robot, floor, -1, -1, 0, physicsClientId=cid)
    return Scene(client=cid, floor=floor, robot=robot, walls=walls, obstacles=obstacles, targets=targets)


def yaw_quaternion(yaw: float) -> tuple[float, float, float, float]:
    return (0.0, 0.0, math.sin(yaw / 2.0), math.cos(yaw / 2.0))
