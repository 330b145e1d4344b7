using Ternion.Backends.Kernels.Ops;

namespace Ternion.Backends.OrtOps;

/// <summary>Every (operator, element type) registration of the com.ternion domain.</summary>
internal static class TernionOpDefinitions
{
    private const IoCharacteristic Req = IoCharacteristic.Required;
    private const IoCharacteristic Opt = IoCharacteristic.Optional;

    public static OpDefinition[] All()
    {
        var list = new List<OpDefinition>();
        // TernaryDecode: T of the scale and the output (spec: float, float16, bfloat16; double as the codec and the passes accept it).
        foreach (var t in new[] { TensorElementType.Float, TensorElementType.Float16, TensorElementType.BFloat16, TensorElementType.Double })
            list.Add(new OpDefinition(TernaryOps.Decode, [TensorElementType.UInt8, t], [Req, Req], [t], c => new TernaryDecodeOrtKernel(c)));
        // TernaryMatMul and its int8-activation variant: X, scale, bias and Y share T (float32 or float16).
        foreach (var t in new[] { TensorElementType.Float, TensorElementType.Float16 })
        {
            TensorElementType[] inputs = [t, TensorElementType.UInt8, t, t];
            list.Add(new OpDefinition(TernaryOps.MatMul, inputs, [Req, Req, Req, Opt], [t], c => new TernaryMatMulOrtKernel(c, absmaxInt8: false)));
            list.Add(new OpDefinition(TernaryOps.MatMulAbsmaxInt8, inputs, [Req, Req, Req, Opt], [t], c => new TernaryMatMulOrtKernel(c, absmaxInt8: true)));
        }
        return list.ToArray();
    }
}
