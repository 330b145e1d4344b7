namespace Ternion.SampleGen;

/// <summary>Switches for tests that check a feature of the sample really matters.</summary>
public sealed record ForwardOptions
{
    /// <summary>Apply the soft-cap score modifier (off: plain scores, to show the cap changes the output).</summary>
    public bool SoftCap { get; init; } = true;
    public static ForwardOptions Default { get; } = new();
}

/// <summary>
/// The sample decoder's forward pass in straight C# loops: no ONNX, no ONNX Runtime (which has no
/// FlexAttention kernel), so it is an independent oracle for both graphs. Dot products and
/// reductions accumulate in double; every value that is a tensor in the ONNX graphs is rounded to
/// float32, so the result stays within float rounding of a float32 runtime.
/// </summary>
public static class ReferenceForward
{
    /// <summary>Logits [tokens.Length, Vocab] (row-major) for one sequence (batch 1).</summary>
    public static float[] Run(SampleWeights w, IReadOnlyList<long> tokens, ForwardOptions? options = null)
    {
        options ??= ForwardOptions.Default;
        var c = w.Config;
        int len = tokens.Count, d = c.Hidden;

        var x = new float[len * d];
        for (int t = 0; t < len; t++)
        {
            long tok = tokens[t];
            if (tok < 0 || tok >= c.Vocab) throw new ArgumentOutOfRangeException(nameof(tokens), $"token {tok} outside the vocabulary");
            Array.Copy(w.Embed, tok * d, x, t * d, d);
        }
        // The decoy projection: x = emb + emb @ EmbedProj.
        x = Add(x, MatMul(x, len, d, w.EmbedProj, d));

        foreach (var layer in w.Layers)
        {
            var h = RmsNorm(x, len, d, layer.AttnNorm, c.RmsEps);
            var q = MatMul(h, len, d, layer.Q.Values, c.QueryWidth);
            var k = MatMul(h, len, d, layer.K.Values, c.KvWidth);
            var v = MatMul(h, len, d, layer.V.Values, c.KvWidth);
            var att = Attention(q, k, v, len, c, options);
            x = Add(x, MatMul(att, len, c.QueryWidth, layer.O.Values, d));

            h = RmsNorm(x, len, d, layer.FfnNorm, c.RmsEps);
            var gate = MatMul(h, len, d, layer.Gate.Values, c.Ffn);
            var up = MatMul(h, len, d, layer.Up.Values, c.Ffn);
            var act = new float[gate.Length];
            for (int i = 0; i < act.Length; i++)
            {
                float g = gate[i];
                float sig = (float)(1.0 / (1.0 + Math.Exp(-(double)g)));
                float silu = g * sig;
                act[i] = silu * up[i];
            }
            x = Add(x, MatMul(act, len, c.Ffn, layer.Down.Values, d));
        }
        var final = RmsNorm(x, len, d, w.FinalNorm, c.RmsEps);
        return MatMul(final, len, d, w.LmHead, c.Vocab);
    }

    /// <summary>[rows, inner] x [inner, cols] with double accumulation.</summary>
    public static float[] MatMul(float[] a, int rows, int inner, float[] b, int cols)
    {
        var y = new float[rows * cols];
        var acc = new double[cols];
        for (int r = 0; r < rows; r++)
        {
            Array.Clear(acc);
            for (int k = 0; k < inner; k++)
            {
                double av = a[r * inner + k];
                int bo = k * cols;
                for (int n = 0; n < cols; n++) acc[n] += av * b[bo + n];
            }
            for (int n = 0; n < cols; n++) y[r * cols + n] = (float)acc[n];
        }
        return y;
    }

    private static float[] Add(float[] a, float[] b)
    {
        var y = new float[a.Length];
        for (int i = 0; i < y.Length; i++) y[i] = a[i] + b[i];
        return y;
    }

    /// <summary>x / sqrt(mean(x^2) + eps) * gamma over the last axis, rounded to float at the same steps as the graph.</summary>
    private static float[] RmsNorm(float[] x, int rows, int d, float[] gamma, float eps)
    {
        var y = new float[x.Length];
        for (int r = 0; r < rows; r++)
        {
            double ss = 0;
            for (int j = 0; j < d; j++) { float sq = x[r * d + j] * x[r * d + j]; ss += sq; }
            float mean = (float)(ss / d);
            float rms = MathF.Sqrt(mean + eps);
            for (int j = 0; j < d; j++) y[r * d + j] = x[r * d + j] / rms * gamma[j];
        }
        return y;
    }

    /// <summary>
    /// FlexAttention's element-wise semantics for this model, written out per element: query head h
    /// reads K/V head h / GroupSize; Q and K are each multiplied by sqrt(scale); score_mod is the
    /// soft-cap c * tanh(s / c); mask_mod keeps kv_idx &lt;= q_idx and masked scores become -inf;
    /// softmax over kv_idx; weighted sum of V. Input and output are [len, heads * HeadDim] rows.
    /// </summary>
    private static float[] Attention(float[] q, float[] k, float[] v, int len, SampleConfig c, ForwardOptions options)
    {
        int e = c.HeadDim, qw = c.QueryWidth, kw = c.KvWidth;
        float sq = c.SqrtScale, cap = c.SoftCap;
        var y = new float[len * qw];
        var scores = new float[len];
        var probs = new double[len];
        for (int h = 0; h < c.QueryHeads; h++)
        {
            int kvh = h / c.GroupSize;
            for (int i = 0; i < len; i++)
            {
                for (int j = 0; j < len; j++)
                {
                    double dot = 0;
                    for (int t = 0; t < e; t++)
                    {
                        float qs = q[i * qw + h * e + t] * sq;
                        float ks = k[j * kw + kvh * e + t] * sq;
                        dot += (double)qs * ks;
                    }
                    float s = (float)dot;
                    if (options.SoftCap)
                    {
                        float scaled = s / cap;
                        float th = (float)Math.Tanh(scaled);
                        s = cap * th;
                    }
                    // mask_mod(q_idx, kv_idx) = q_idx >= kv_idx; a masked score is mask_value = -inf.
                    scores[j] = i >= j ? s : float.NegativeInfinity;
                }
                float max = float.NegativeInfinity;
                for (int j = 0; j < len; j++) max = Math.Max(max, scores[j]);
                double sum = 0;
                for (int j = 0; j < len; j++) { probs[j] = Math.Exp((double)scores[j] - max); sum += probs[j]; }
                for (int t = 0; t < e; t++)
                {
                    double acc = 0;
                    for (int j = 0; j < len; j++)
                    {
                        float p = (float)(probs[j] / sum);
                        acc += (double)p * v[j * kw + kvh * e + t];
                    }
                    y[i * qw + h * e + t] = (float)acc;
                }
            }
        }
        return y;
    }
}
