namespace Ternion.SampleGen;

/// <summary>
/// The shape of the sample decoder. The defaults are the shipped model; tests may shrink nothing
/// here without regenerating testdata/bitnet-tiny, because the committed files are compared byte
/// for byte with what these values produce.
/// </summary>
public sealed record SampleConfig
{
    public int Vocab { get; init; } = 256;
    public int Hidden { get; init; } = 256;
    public int Layers { get; init; } = 2;
    public int QueryHeads { get; init; } = 4;
    public int KvHeads { get; init; } = 2;
    public int HeadDim { get; init; } = 64;
    public int Ffn { get; init; } = 512;
    public float RmsEps { get; init; } = 1e-6f;
    /// <summary>Soft-cap c of the score modifier c * tanh(s / c) (Gemma 2's attention value).</summary>
    public float SoftCap { get; init; } = 50f;
    /// <summary>Sequence length of the shipped test input.</summary>
    public int TestSeq { get; init; } = 16;

    public int QueryWidth => QueryHeads * HeadDim;
    public int KvWidth => KvHeads * HeadDim;
    /// <summary>Query heads that share one K/V head (grouped-query attention).</summary>
    public int GroupSize => QueryHeads / KvHeads;

    /// <summary>
    /// FlexAttention's default scale, 1/sqrt(E), computed in float32 as the operator defines it; the
    /// operator then multiplies Q and K each by sqrt(scale) (again float32) before the product.
    /// </summary>
    public float SqrtScale => MathF.Sqrt(1f / MathF.Sqrt(HeadDim));

    public static SampleConfig Default { get; } = new();
}
