namespace Ternion.SampleGen;

/// <summary>How a ternary weight is scaled: one scale for the tensor, or one per output channel.</summary>
public enum ScaleKind { PerTensor, PerChannel }

/// <summary>
/// A ternary MatMul B operand of shape [K, N]: trits in {-1, 0, +1} and either one scale or one
/// scale per column n (the output channel, which is what TTF1 calls a channel for axis 0).
/// </summary>
public sealed class TernaryWeight
{
    public TernaryWeight(string name, int rows, int cols, sbyte[] trits, float[] scales, ScaleKind kind, float[]? latent = null)
    {
        Name = name; Rows = rows; Cols = cols; Trits = trits; Scales = scales; Kind = kind; Latent = latent ?? [];
        Values = new float[trits.Length];
        for (int k = 0; k < rows; k++)
            for (int n = 0; n < cols; n++)
            {
                int i = k * cols + n;
                float s = kind == ScaleKind.PerTensor ? scales[0] : scales[n];
                // Zero trits give +0.0f, never -0.0f, so the stored float is exactly trit * scale.
                Values[i] = trits[i] == 0 ? 0f : trits[i] * s;
            }
    }

    public string Name { get; }
    public int Rows { get; }
    public int Cols { get; }
    public sbyte[] Trits { get; }
    public float[] Scales { get; }
    public ScaleKind Kind { get; }
    /// <summary>The float32 values the model stores: trit * scale.</summary>
    public float[] Values { get; }
    /// <summary>The latent full-precision weight the trits were quantized from, [K, N] (what a training checkpoint stores).</summary>
    public float[] Latent { get; }

    public double ZeroFraction => Trits.Count(t => t == 0) / (double)Trits.Length;
}

public sealed class LayerWeights
{
    public required float[] AttnNorm { get; init; }
    public required TernaryWeight Q { get; init; }
    public required TernaryWeight K { get; init; }
    public required TernaryWeight V { get; init; }
    public required TernaryWeight O { get; init; }
    public required float[] FfnNorm { get; init; }
    public required TernaryWeight Gate { get; init; }
    public required TernaryWeight Up { get; init; }
    public required TernaryWeight Down { get; init; }

    public IEnumerable<TernaryWeight> Ternary => [Q, K, V, O, Gate, Up, Down];
}

/// <summary>
/// Every parameter of the sample decoder and the test tokens, drawn deterministically from a seed.
/// Both ONNX graphs and the C# reference forward pass read the same arrays.
/// </summary>
public sealed class SampleWeights
{
    public required SampleConfig Config { get; init; }
    public required int Seed { get; init; }
    /// <summary>Token embedding table [Vocab, Hidden], dense random floats.</summary>
    public required float[] Embed { get; init; }
    /// <summary>
    /// The decoy: a [Hidden, Hidden] projection of the embeddings added to the residual stream. It is
    /// ternary with a per-tensor scale except for one element equal to scale/2, so a compiler that
    /// packs it would change the model; it must stay dense.
    /// </summary>
    public required float[] EmbedProj { get; init; }
    public required int DecoyIndex { get; init; }
    public required float DecoyScale { get; init; }
    public required LayerWeights[] Layers { get; init; }
    public required float[] FinalNorm { get; init; }
    /// <summary>LM head [Hidden, Vocab]: tied to the embedding (its transpose), stored as its own dense initializer.</summary>
    public required float[] LmHead { get; init; }
    /// <summary>The token ids of test_data_set_0, shape [1, TestSeq].</summary>
    public required long[] Tokens { get; init; }

    public const int DefaultSeed = 1580;

    public static SampleWeights Generate(int seed = DefaultSeed, SampleConfig? config = null)
    {
        var c = config ?? SampleConfig.Default;
        if (c.QueryHeads % c.KvHeads != 0) throw new ArgumentException("query heads must be a multiple of KV heads");
        var rng = new SampleRng((ulong)seed);
        int d = c.Hidden;

        // Embedding std 0.05: the tied LM head then gives logits of about +-1 (sqrt(256) * 0.05 * RMS 1).
        // Larger logits carry proportionally larger float32 rounding noise in ONNX Runtime, and logits
        // near zero are held to the absolute tolerance (1e-5) alone; at 0.05 the noise stays near 4e-6.
        var embed = Dense(rng, c.Vocab * d, 0.05);
        var lmHead = new float[d * c.Vocab];
        for (int v = 0; v < c.Vocab; v++)
            for (int j = 0; j < d; j++) lmHead[j * c.Vocab + v] = embed[v * d + j];

        var decoy = Ternarize(rng, "embed_proj.weight", d, d, 1.0 / Math.Sqrt(d), ScaleKind.PerTensor);
        var embedProj = (float[])decoy.Values.Clone();
        int decoyIndex = rng.NextInt(embedProj.Length);
        float decoyScale = decoy.Scales[0];
        // Exactly half the scale: halfway between the trits 0 and 1, so no rounding rule maps it to a trit losslessly.
        embedProj[decoyIndex] = decoyScale / 2;

        var layers = new LayerWeights[c.Layers];
        for (int l = 0; l < c.Layers; l++)
        {
            string p = $"layers.{l}.";
            // Q and K are drawn 2x wider than the rest so that scores reach ~5, where the soft-cap
            // c*tanh(s/c) with c = 50 changes the logits by ~7e-3, far beyond tolerance (at |s| < 1 it
            // is the identity to within float rounding, and a compiler that dropped it would pass).
            // Much wider makes the softmax amplify float32 noise in the scores past the tolerance.
            layers[l] = new LayerWeights
            {
                AttnNorm = Gamma(rng, d),
                Q = Ternarize(rng, p + "self_attn.q_proj.weight", d, c.QueryWidth, 2.0 / Math.Sqrt(d), ScaleKind.PerTensor),
                K = Ternarize(rng, p + "self_attn.k_proj.weight", d, c.KvWidth, 2.0 / Math.Sqrt(d), ScaleKind.PerTensor),
                V = Ternarize(rng, p + "self_attn.v_proj.weight", d, c.KvWidth, 1.0 / Math.Sqrt(d), ScaleKind.PerTensor),
                O = Ternarize(rng, p + "self_attn.o_proj.weight", c.QueryWidth, d, 1.0 / Math.Sqrt(c.QueryWidth), ScaleKind.PerTensor),
                FfnNorm = Gamma(rng, d),
                Gate = Ternarize(rng, p + "mlp.gate_proj.weight", d, c.Ffn, 1.0 / Math.Sqrt(d), ScaleKind.PerChannel),
                Up = Ternarize(rng, p + "mlp.up_proj.weight", d, c.Ffn, 1.0 / Math.Sqrt(d), ScaleKind.PerChannel),
                Down = Ternarize(rng, p + "mlp.down_proj.weight", c.Ffn, d, 1.0 / Math.Sqrt(c.Ffn), ScaleKind.PerChannel),
            };
        }
        var finalNorm = Gamma(rng, d);
        var tokens = new long[c.TestSeq];
        for (int i = 0; i < tokens.Length; i++) tokens[i] = rng.NextInt(c.Vocab);

        return new SampleWeights
        {
            Config = c, Seed = seed, Embed = embed, EmbedProj = embedProj, DecoyIndex = decoyIndex, DecoyScale = decoyScale,
            Layers = layers, FinalNorm = finalNorm, LmHead = lmHead, Tokens = tokens,
        };
    }

    /// <summary>A copy with the decoy element replaced (tests: what a compiler that snapped it to a trit would compute).</summary>
    public SampleWeights WithDecoyValue(float value)
    {
        var proj = (float[])EmbedProj.Clone();
        proj[DecoyIndex] = value;
        return new SampleWeights
        {
            Config = Config, Seed = Seed, Embed = Embed, EmbedProj = proj, DecoyIndex = DecoyIndex, DecoyScale = DecoyScale,
            Layers = Layers, FinalNorm = FinalNorm, LmHead = LmHead, Tokens = Tokens,
        };
    }

    private static float[] Dense(SampleRng rng, int n, double std)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextGaussian() * std);
        return a;
    }

    /// <summary>RMSNorm gains: positive, spread enough that a norm without its gamma would be caught.</summary>
    private static float[] Gamma(SampleRng rng, int n)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)rng.Uniform(0.5, 1.5);
        return a;
    }

    /// <summary>
    /// BitNet b1.58's absmean quantisation of a latent Gaussian weight: scale = mean |W| (over the
    /// tensor, or over each column for per-channel), trit = clamp(round(W / scale), -1, 1). For a
    /// Gaussian that leaves about 31% zeros. Per-channel latents get a random gain per column so
    /// that the column scales really differ (a per-tensor scale would not fit them).
    /// </summary>
    private static TernaryWeight Ternarize(SampleRng rng, string name, int rows, int cols, double std, ScaleKind kind)
    {
        var latent = new double[rows * cols];
        var colGain = new double[cols];
        for (int n = 0; n < cols; n++) colGain[n] = kind == ScaleKind.PerChannel ? rng.Uniform(0.5, 2.0) : 1.0;
        double tensorGain = rng.Uniform(0.75, 1.25);
        for (int k = 0; k < rows; k++)
            for (int n = 0; n < cols; n++)
                latent[k * cols + n] = rng.NextGaussian() * std * tensorGain * colGain[n];

        float[] scales;
        if (kind == ScaleKind.PerTensor)
        {
            double sum = 0;
            foreach (var x in latent) sum += Math.Abs(x);
            scales = [(float)(sum / latent.Length)];
        }
        else
        {
            scales = new float[cols];
            for (int n = 0; n < cols; n++)
            {
                double sum = 0;
                for (int k = 0; k < rows; k++) sum += Math.Abs(latent[k * cols + n]);
                scales[n] = (float)(sum / rows);
            }
        }
        var trits = new sbyte[rows * cols];
        for (int k = 0; k < rows; k++)
            for (int n = 0; n < cols; n++)
            {
                int i = k * cols + n;
                double s = kind == ScaleKind.PerTensor ? scales[0] : scales[n];
                trits[i] = (sbyte)Math.Clamp(Math.Round(latent[i] / s), -1, 1);
            }
        return new TernaryWeight(name, rows, cols, trits, scales, kind, latent.Select(v => (float)v).ToArray());
    }
}
