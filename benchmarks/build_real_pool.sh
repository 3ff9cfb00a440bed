#!/usr/bin/env bash
# Build the real-portrait pool of the real-portraits issue from folders extracted outside the repo:
#   for each repository: fetch it, then git --git-dir GITDIR archive HEAD 'FOLDER' | tar -x -C PHOTOS
#   bash benchmarks/build_real_pool.sh PHOTOS POOL [extra pool build options, e.g. --limit 500]
# CelebA_Samples may train shadow, facial_shadow and retouch only (parsing, normals and maskedit are
# checked on CelebA-derived photos); its file names carry the identity (<identity>_<image>.jpg).
set -euo pipefail
photos=${1:?PHOTOS folder}; out=${2:?POOL folder}; shift 2
exec portrait-edge pool build --sizes 256,512 --out "$out" "$@" \
  --from "$photos/All-Age-Faces Dataset/original images" \
    --source-name "middleyuan/All-Age-Faces-Dataset@28741a7:original images" \
    --licence "unstated upstream (All-Age-Faces); research use only" \
  --from "$photos/data/UTKFace/unlabeled" \
    --source-name "mattans/AgeProgression@2d937c6:data/UTKFace/unlabeled" \
    --licence "UTKFace: non-commercial research only" \
  --from "$photos/data/landing/Images" \
    --source-name "dduygaucho/SCUT-FBP5000@f5be42e:data/landing/Images" \
    --licence "SCUT-FBP5500: non-commercial research only" \
  --from "$photos/images" \
    --source-name "hmdghoul/generated-faces@59ccdc2:images" \
    --licence "unstated upstream (GAN-generated faces); research use only" \
  --from "$photos/celeba_identity_samples" \
    --source-name "ShaharKSegal/CelebA_Samples@2a68dac:celeba_identity_samples" \
    --licence "CelebA: non-commercial research only" --tasks shadow,facial_shadow,retouch --identity name-prefix
