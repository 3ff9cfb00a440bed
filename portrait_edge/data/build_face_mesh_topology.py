"""Build face_mesh_topology.json, the static Face Mesh topology that landmarks.py uses.

Run once with MediaPipe installed (the committed JSON is its output; tests check they agree):

    python -m portrait_edge.data.build_face_mesh_topology

Everything is derived from MediaPipe 0.10.21's edge sets (mediapipe.python.solutions.
face_mesh_connections), by graph operations only (no landmark coordinates), so the result is exact:
- regions: landmark indices of each FACEMESH_* set (face_oval, left/right eye, left/right eyebrow,
  nose, lips), plus lips split into lips_outer and lips_inner. "left" is the subject's left, which is
  on the image's right in an unmirrored photo (MediaPipe's naming).
- contours: the same sets as ordered closed loops (a brow is its upper and lower arcs joined at the
  ends by the mesh edges that close it), for drawing or filling outlines.
- triangles: the 852 faces of FACEMESH_TESSELATION (3-cliques of its edge graph, minus the 2 cliques
  whose three edges are each shared by two real faces: the mesh is a disk with 3 holes, so
  V - E + F = 468 - 1322 + 852 = -2), then triangles that fill the three holes: each eye opening
  and the mouth opening, zipped between the upper and lower arcs of the hole's rim.
- triangle_regions: a region code per triangle (REGION_CODES): eye and mouth fills are eyes and
  mouth; faces enclosed by the lips' outer loop are lips, by a brow loop brows, by the loop around
  both nostril wings nose, and faces touching a vertex of the nose bridge (168-6-197-195-5-4) are nose too;
  every other face is skin.
"""

from __future__ import annotations

import collections
import json
from pathlib import Path

from portrait_edge.atomic import write_text_atomic

TOPOLOGY_PATH = Path(__file__).with_name("face_mesh_topology.json")
REGION_CODES = {"skin": 1, "nose": 2, "brows": 3, "eyes": 4, "lips": 5, "mouth": 6}
# Corners of the holes' rims (Face Mesh indices): the arcs between them are zipped into triangles.
HOLE_CORNERS = {"right_eye": (33, 133), "left_eye": (362, 263), "lips_inner": (78, 308)}
NOSE_BRIDGE = (168, 6, 197, 195, 5, 4)

Edge = tuple[int, int]


def _edge(a: int, b: int) -> Edge:
    return (a, b) if a < b else (b, a)


def _adjacency(edges) -> dict[int, set[int]]:
    adjacency: dict[int, set[int]] = collections.defaultdict(set)
    for a, b in edges:
        adjacency[a].add(b)
        adjacency[b].add(a)
    return adjacency


def _components(edges) -> list[set[int]]:
    adjacency = _adjacency(edges)
    seen: set[int] = set()
    components = []
    for start in sorted(adjacency):
        if start in seen:
            continue
        component, stack = set(), [start]
        while stack:
            vertex = stack.pop()
            if vertex not in component:
                component.add(vertex)
                stack.extend(adjacency[vertex])
        seen |= component
        components.append(component)
    return components


def _walk_loop(edges) -> list[int]:
    """Order the vertices of a single cycle: start at the smallest index, go to its smaller neighbour."""
    adjacency = _adjacency(edges)
    assert all(len(n) == 2 for n in adjacency.values()), "not a simple cycle"
    start = min(adjacency)
    loop, previous, current = [start], start, min(adjacency[start])
    while current != start:
        loop.append(current)
        previous, current = current, next(v for v in sorted(adjacency[current]) if v != previous)
    assert len(loop) == len(adjacency)
    return loop


def _mesh_faces(tesselation: set[Edge]) -> list[tuple[int, int, int]]:
    adjacency = _adjacency(tesselation)
    cliques = set()
    for a, b in tesselation:
        for c in adjacency[a] & adjacency[b]:
            cliques.add(tuple(sorted((a, b, c))))
    uses = collections.Counter(_edge(x, y) for a, b, c in cliques for x, y in ((a, b), (a, c), (b, c)))
    faces = [t for t in sorted(cliques)
             if not all(uses[_edge(x, y)] > 2 for x, y in ((t[0], t[1]), (t[0], t[2]), (t[1], t[2])))]
    uses = collections.Counter(_edge(x, y) for a, b, c in faces for x, y in ((a, b), (a, c), (b, c)))
    assert max(uses.values()) == 2, "the tesselation is not a manifold after removing spurious cliques"
    vertices = len(adjacency)
    assert vertices - len(tesselation) + len(faces) == 1 - 3, "expected a disk with 3 holes (eyes, mouth)"
    return faces


def _faces_inside(loop: list[int], faces, boundary: set[Edge]) -> set[int]:
    """Indices of the faces enclosed by a closed loop of mesh edges (not connected to the outer rim)."""
    cut = {_edge(loop[i], loop[(i + 1) % len(loop)]) for i in range(len(loop))}
    by_edge: dict[Edge, list[int]] = collections.defaultdict(list)
    for index, (a, b, c) in enumerate(faces):
        for x, y in ((a, b), (a, c), (b, c)):
            by_edge[_edge(x, y)].append(index)
    neighbours: dict[int, set[int]] = collections.defaultdict(set)
    for edge, owners in by_edge.items():
        if edge not in cut and len(owners) == 2:
            neighbours[owners[0]].add(owners[1])
            neighbours[owners[1]].add(owners[0])
    outside: set[int] = set()
    stack = [i for edge in boundary for i in by_edge[edge]]
    while stack:
        face = stack.pop()
        if face not in outside:
            outside.add(face)
            stack.extend(neighbours[face])
    inside = set(range(len(faces))) - outside
    assert inside and len(inside) < len(faces) // 2, "loop does not enclose a small part of the mesh"
    return inside


def _zip_hole(loop: list[int], corners: tuple[int, int]) -> list[tuple[int, int, int]]:
    """Triangulate a hole by zipping the two arcs of its rim that run from one corner to the other."""
    start = loop.index(corners[0])
    ring = loop[start:] + loop[:start]
    split = ring.index(corners[1])
    upper = ring[: split + 1]
    lower = [ring[0]] + ring[split:][::-1]
    assert len(upper) == len(lower), f"arcs of unequal length around {corners}"
    triangles = []
    for i in range(len(upper) - 1):
        quad = (upper[i], upper[i + 1], lower[i + 1], lower[i])
        for triangle in ((quad[0], quad[1], quad[2]), (quad[0], quad[2], quad[3])):
            if len(set(triangle)) == 3:
                triangles.append(triangle)
    return triangles


def build() -> dict:
    from mediapipe.python.solutions import face_mesh_connections as connections

    def edges(name: str) -> set[Edge]:
        return {_edge(a, b) for a, b in getattr(connections, name)}

    tesselation = edges("FACEMESH_TESSELATION")
    sets = {
        "face_oval": edges("FACEMESH_FACE_OVAL"),
        "left_eye": edges("FACEMESH_LEFT_EYE"),
        "right_eye": edges("FACEMESH_RIGHT_EYE"),
        "left_eyebrow": edges("FACEMESH_LEFT_EYEBROW"),
        "right_eyebrow": edges("FACEMESH_RIGHT_EYEBROW"),
        "nose": edges("FACEMESH_NOSE"),
        "lips": edges("FACEMESH_LIPS"),
    }
    assert all(e in tesselation for s in sets.values() for e in s)
    regions = {name: sorted({v for e in s for v in e}) for name, s in sets.items()}

    lips_loops = [sorted(c) for c in _components(sets["lips"])]
    inner = next(c for c in lips_loops if 78 in c)
    outer = next(c for c in lips_loops if 61 in c)
    regions["lips_outer"], regions["lips_inner"] = outer, inner

    contours = {name: _walk_loop(sets[name]) for name in ("face_oval", "left_eye", "right_eye")}
    contours["lips_outer"] = _walk_loop({e for e in sets["lips"] if e[0] in outer})
    contours["lips_inner"] = _walk_loop({e for e in sets["lips"] if e[0] in inner})
    for brow in ("left_eyebrow", "right_eyebrow"):
        ends = [v for v, n in _adjacency(sets[brow]).items() if len(n) == 1]
        closing = {_edge(a, b) for a in ends for b in ends if a < b and _edge(a, b) in tesselation}
        assert len(closing) == 2
        contours[brow] = _walk_loop(sets[brow] | closing)
    nose_adjacency = _adjacency(sets["nose"])
    bridge_edges = {_edge(a, b) for a, b in zip(NOSE_BRIDGE, NOSE_BRIDGE[1:])}
    ridge = {e for e in sets["nose"] if e not in bridge_edges}
    # The wings' outline: the nose edges minus the ridge path that runs inside it (4-1-19-94-2).
    ridge_path = (4, 1, 19, 94, 2)
    ridge_inside = {_edge(a, b) for a, b in zip(ridge_path, ridge_path[1:])}
    assert all(b in nose_adjacency[a] for a, b in ridge_inside)
    contours["nose_wings"] = _walk_loop(ridge - ridge_inside)

    faces = _mesh_faces(tesselation)
    boundary = sets["face_oval"]
    codes = [REGION_CODES["skin"]] * len(faces)
    for index, face in enumerate(faces):
        if any(v in NOSE_BRIDGE for v in face):
            codes[index] = REGION_CODES["nose"]
    for loop_name, code in (("nose_wings", "nose"), ("left_eyebrow", "brows"), ("right_eyebrow", "brows"),
                            ("lips_outer", "lips")):
        for index in _faces_inside(contours[loop_name], faces, boundary):
            codes[index] = REGION_CODES[code]

    triangles = [list(f) for f in faces]
    for hole, code in (("right_eye", "eyes"), ("left_eye", "eyes"), ("lips_inner", "mouth")):
        fill = _zip_hole(contours[hole], HOLE_CORNERS[hole])
        triangles += [list(t) for t in fill]
        codes += [REGION_CODES[code]] * len(fill)

    return {
        "source": "mediapipe 0.10.21 mediapipe.python.solutions.face_mesh_connections",
        "built_by": "python -m portrait_edge.data.build_face_mesh_topology",
        "num_landmarks": 468,
        "region_codes": REGION_CODES,
        "regions": regions,
        "contours": contours,
        "triangles": triangles,
        "triangle_regions": codes,
    }


def dumps(topology: dict) -> str:
    """Compact but diff-friendly JSON: one line per top-level entry's item."""
    lines = ["{"]
    items = list(topology.items())
    for i, (key, value) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        if isinstance(value, dict):
            inner = ",\n".join(f"    {json.dumps(k)}: {json.dumps(v)}" for k, v in value.items())
            lines.append(f"  {json.dumps(key)}: {{\n{inner}\n  }}{comma}")
        elif key == "triangles":
            rows = ",\n".join("    " + ", ".join(json.dumps(t) for t in value[j:j + 12]) for j in range(0, len(value), 12))
            lines.append(f"  {json.dumps(key)}: [\n{rows}\n  ]{comma}")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> None:
    text = dumps(build())
    write_text_atomic(TOPOLOGY_PATH, text)
    print(f"{TOPOLOGY_PATH} ({len(text)} bytes)")


if __name__ == "__main__":
    main()
