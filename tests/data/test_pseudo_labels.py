import numpy as np

from portrait_edge.data.pseudo_labels import IGNORE, combine
from portrait_edge.labels import CLASS_ID


def _case():
    size = 12
    mesh = np.zeros((size, size), np.uint8)
    mesh[3:9, 3:9] = CLASS_ID["skin"]
    person = np.zeros((size, size), np.float32)
    person[:, 2:10] = 1.0
    person[:, 10] = 0.5  # unsure
    teacher = np.full((size, size), CLASS_ID["hair"], np.int64)
    prob = np.full((size, size), 0.9, np.float32)
    valid = np.ones((size, size), bool)
    return mesh, person, teacher, prob, valid


def test_each_source_decides_its_classes():
    mesh, person, teacher, prob, valid = _case()
    teacher[3:9, 3:9] = CLASS_ID["hair"]  # the teacher calls real skin hair: the mesh wins on the face
    out = combine(mesh, person, teacher, prob, valid, eye_line_y=5)
    assert out[5, 5] == CLASS_ID["skin"]
    assert out[0, 5] == CLASS_ID["hair"]  # on the person, off the mesh: the teacher's outer class
    assert out[5, 0] == 0  # selfie says background
    assert out[5, 10] == IGNORE  # selfie unsure


def test_unsure_teacher_inner_classes_off_the_mesh_padding_and_edges_are_ignored():
    mesh, person, teacher, prob, valid = _case()
    teacher[0, :] = CLASS_ID["nose"]  # an inner-face class off the mesh
    prob[11, :] = 0.3
    valid[:, 11] = False
    out = combine(mesh, person, teacher, prob, valid, eye_line_y=5)
    assert out[0, 5] == IGNORE and out[11, 5] == IGNORE and (out[:, 11] == IGNORE).all()
    assert out[2, 5] == IGNORE  # hair next to skin: a boundary


def test_hat_needs_high_confidence():
    for confidence, expected in ((0.8, IGNORE), (0.95, CLASS_ID["hat"])):
        mesh, person, teacher, prob, valid = _case()
        teacher[0:3, :] = CLASS_ID["hat"]
        prob[0:3, :] = confidence
        out = combine(mesh, person, teacher, prob, valid, eye_line_y=5)
        assert out[1, 5] == expected
