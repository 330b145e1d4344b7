using System.Runtime.InteropServices;
using Ternion.IR;

namespace Ternion.Ternary.Tests;

public enum ScaleKind { PerTensor, PerChannel }

/// <summary>Builds small models whose weights are ternary (or nearly), the way exporters write them: float initializers.</summary>
public static class WeightModels
{
    /// <summary>
    /// A [K, N] (or [N, K] when <paramref name="transposed"/>) weight of trits times scales, in the given type.
    /// Per channel: channel n has its own scale. Roughly a third of the trits are zero.
    /// </summary>
    public static (byte[] Bytes, float[] Values) Ternary(int k, int n, DataType type, ScaleKind kind, int seed, bool transposed = false)
    {
        var rng = new Random(seed);
        var scales = Enumerable.Range(0, n).Select(_ => kind == ScaleKind.PerTensor ? 0.0375f : (float)(0.01 + rng.NextDouble() * 0.1)).ToArray();
        if (kind == ScaleKind.PerTensor) Array.Fill(scales, 0.0375f);
        var values = new float[k * n];
        for (int kk = 0; kk < k; kk++)
            for (int nn = 0; nn < n; nn++)
            {
                int t = rng.Next(3) - 1;
                float s = Round(scales[nn], type);
                float v = t * s;
                values[transposed ? nn * k + kk : kk * n + nn] = v;
            }
        return (Encode(values, type), values);
    }

    /// <summary>Rounds a float to what the element type can hold, so "the same magnitude" stays exact.</summary>
    public static float Round(float v, DataType type) => type switch
    {
        DataType.Float16 => (float)(Half)v,
        DataType.BFloat16 => BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(v) & unchecked((int)0xFFFF0000)),
        DataType.Double => v,
        _ => v,
    };

    public static byte[] Encode(float[] values, DataType type) => type switch
    {
        DataType.Float => MemoryMarshal.AsBytes(values.AsSpan()).ToArray(),
        DataType.Double => MemoryMarshal.AsBytes(values.Select(v => (double)v).ToArray().AsSpan()).ToArray(),
        DataType.Float16 => MemoryMarshal.AsBytes(values.Select(v => (Half)v).ToArray().AsSpan()).ToArray(),
        DataType.BFloat16 => MemoryMarshal.AsBytes(values.Select(v => (ushort)(BitConverter.SingleToUInt32Bits(v) >> 16)).ToArray().AsSpan()).ToArray(),
        _ => throw new ArgumentException(type.ToString()),
    };

    /// <summary>
    /// X [2, K] -> MatMul(X, W1) and MatMul(X, W1) again (a shared weight, two consumers), Gemm(X, W2, transB=1),
    /// plus a decoy (ternary except one element) in a third MatMul; outputs y1, y2, y3, y4.
    /// </summary>
    public static Model MatMulGemmModel(int k, int n, DataType type, ScaleKind kind, int opset = 17)
    {
        var g = new Graph { Name = "weights" };
        var m = new Model(g) { IrVersion = 8, ProducerName = "ternion-tests" };
        m.OpsetImports.Add(new OpsetId("", opset));
        var x = g.AddInput("x", IrType.Tensor(type, 2, k));
        var w1 = g.AddInitializer(new Tensor("w1", type, [k, n], new MemoryTensorData(Ternary(k, n, type, kind, 1).Bytes)));
        var w2 = g.AddInitializer(new Tensor("w2", type, [n, k], new MemoryTensorData(Ternary(k, n, type, kind, 2, transposed: true).Bytes)));
        var (decoyBytes, decoyValues) = Ternary(k, n, type, ScaleKind.PerTensor, 3);
        int off = Array.FindIndex(decoyValues, v => v != 0);
        decoyValues[off] /= 2; // one element is s/2: not ternary
        var decoy = g.AddInitializer(new Tensor("decoy", type, [k, n], new MemoryTensorData(Encode(decoyValues, type))));
        Value Out(Node node, string name) { var v = g.Append(node).Output(); g.Rename(v, name); v.Type = IrType.Tensor(type, 2, n); g.Outputs.Add(v); return v; }
        Out(new Node("", "MatMul", [x, w1], 1), "y1");
        Out(new Node("", "MatMul", [x, w1], 1), "y2");
        Out(new Node("", "Gemm", [x, w2], 1, [Attribute.Int("transB", 1)]), "y3");
        Out(new Node("", "MatMul", [x, decoy], 1), "y4");
        return m;
    }
}
