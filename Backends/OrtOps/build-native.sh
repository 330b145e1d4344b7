#!/usr/bin/env bash
# Builds the NativeAOT custom-op library for Python, C and C++ users of ONNX Runtime:
#   OUT/Ternion.OrtOps.so          x86-64-v3 (AVX2 + FMA): load this one
#   OUT/avx512/Ternion.OrtOps.so   x86-64-v4 + avx512v2 (VBMI, IFMA): the first hands over to it on such CPUs
# NativeAOT fixes the instruction set at compile time, hence two builds and the hand-over
# (NativeVariant.cs). Needs the .NET SDK and a C toolchain: Debian packages clang and zlib1g-dev.
#   Backends/OrtOps/build-native.sh [OUT]      (default: out/ortops-native)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$(mkdir -p "${1:-out/ortops-native}" && cd "${1:-out/ortops-native}" && pwd)"
obj="$(mktemp -d)"
trap 'rm -rf "$obj"' EXIT
publish() { # $1 instruction set (%2C is a comma MSBuild does not split on), $2 output folder, $3 scratch name
  dotnet publish "$here/Ternion.OrtOps.csproj" -c Release -r linux-x64 -nologo \
    -p:PublishAot=true -p:NativeLib=Shared -p:SelfContained=true -p:IlcInstructionSet="$1" \
    -p:NativeIntermediateOutputPath="$obj/$3/" -p:NativeOutputPath="$obj/$3/out/" -o "$2"
  rm -f "$2"/*.pdb "$2"/*.dbg
}
publish x86-64-v3 "$out" avx2
publish "x86-64-v4%2Cavx512v2" "$out/avx512" avx512
echo "built $out/Ternion.OrtOps.so (AVX2) and $out/avx512/Ternion.OrtOps.so (AVX-512 VBMI)"
