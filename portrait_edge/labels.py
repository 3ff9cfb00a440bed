"""The 19 CelebAMask-HQ face-parsing classes, in the standard order (class id = index)."""

CELEBAMASK_HQ_CLASSES: tuple[str, ...] = (
    "background", "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear",
    "mouth", "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l", "neck", "cloth",
)
NUM_CLASSES = len(CELEBAMASK_HQ_CLASSES)
CLASS_ID = {name: i for i, name in enumerate(CELEBAMASK_HQ_CLASSES)}
