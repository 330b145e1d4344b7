using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Ternion.Backends;
using Ternion.Backends.Kernels;
using Ternion.Backends.Verification;
using Ternion.IR;
using Ternion.ModelGen;

// One decoder layer of the BitNet-2B shape on ONNX Runtime (CPU), per Ternion target: session
// creation, resident memory the session adds, one-token latency (the memory-bound GEMV decode
// step), a 128-token prefill, peak memory, and how far each output is from the dense model's.
// Two layers: plain (float activations) and one that quantizes activations like BitNet b1.58
// (absmax int8 per token before every projection), where ort-ttf1 uses its int8 kernel.
// Each configuration runs in its own process so peak RSS is its own.
//
//   dotnet run -c Release --project bench/Ternion.InferenceBench -- [WORKDIR] [--runs N] [--only plain|quant|memory]
// TERNION_ISA=avx2 (or scalar) times ort-ttf1's AVX2 (scalar) kernels on an AVX-512 machine.
if (args.Length > 0 && args[0] == "--child") return Child.Run(args[1..]);

string work = args.Length > 0 && !args[0].StartsWith('-') ? args[0] : Path.Combine(Path.GetTempPath(), "ternion-infer");
int runs = args.SkipWhile(a => a != "--runs").Skip(1).Select(int.Parse).FirstOrDefault(30);
string? only = args.SkipWhile(a => a != "--only").Skip(1).FirstOrDefault();
Directory.CreateDirectory(work);

var models = new List<(string Title, string Key, DecoderShape Shape, (string Name, string Target, bool Fold)[] Configs)>
{
    ("Plain layer (float activations)", "plain", new DecoderShape { Layers = 1, Embedding = false },
    [
        ("dense float32 (`folded`)", "folded", true),
        ("`fallback`, ConstantFolding on", "fallback", true),
        ("`fallback`, ConstantFolding off", "fallback", false),
        ("`ort-nbits` (MatMulNBits, accuracy 0)", "ort-nbits", true),
        ("`ort-nbits-int8` (MatMulNBits, accuracy 4)", "ort-nbits-int8", true),
        ("`ort-ttf1` (TernaryMatMul, float32)", "ort-ttf1", true),
    ]),
    ("Layer with BitNet's activation quantization (absmax int8 per token before each projection)", "quant",
        new DecoderShape { Layers = 1, Embedding = false, ActivationQuant = true },
    [
        ("dense float32 (`folded`), quantization ops in the graph", "folded", true),
        ("`ort-nbits-int8` (MatMulNBits, accuracy 4)", "ort-nbits-int8", true),
        ("`ort-ttf1` (TernaryMatMulAbsmaxInt8)", "ort-ttf1", true),
    ]),
};

Console.WriteLine($"Machine: {Machine()}; ONNX Runtime {Microsoft.ML.OnnxRuntime.OrtEnv.Instance().GetVersionString()} CPU, default threads; {runs} runs per one-token median, {Math.Max(3, runs / 5)} per prefill median; " +
    $"ort-ttf1 kernels: {GemvOptions.Best}{(Environment.GetEnvironmentVariable("TERNION_ISA") is { } isa ? $" (TERNION_ISA={isa})" : "")}; {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; load average {Load()}");
foreach (var (title, key, shape, configs) in models)
{
    if (only is not null && only != key) continue;

    var layer = Path.Combine(work, $"layer-{key}.onnx");
    if (!File.Exists(layer)) SyntheticDecoder.Write(shape, layer);
    Console.WriteLine();
    Console.WriteLine($"### {title}");
    Console.WriteLine();
    Console.WriteLine("| configuration | weight bytes on disk | session creation | RSS added by the session | 1 token | vs dense | 128-token prefill | vs dense | peak RSS | max abs diff vs dense (1 token / prefill) | relative to max abs output |");
    // RSS in MiB (2^20 bytes), as /proc reports it; file sizes in MB (10^6).
    Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|---|");
    Result? dense = null;
    float[]? denseOut = null;
    foreach (var c in configs)
    {
        var outPath = Path.Combine(work, $"layer-{key}-{c.Target}.onnx");
        if (!File.Exists(outPath)) TernionCompiler.Compile(new CompileRequest { InputPath = layer, OutputPath = outPath, Target = c.Target });
        var outputs = Path.Combine(work, $"out-{key}-{c.Target}-{(c.Fold ? "fold" : "nofold")}.bin");
        var r = RunChild(outPath, c.Fold, runs, outputs);
        var values = MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(outputs)).ToArray();
        dense ??= r;
        denseOut ??= values;
        long bytes = new FileInfo(outPath).Length + (File.Exists(outPath + ".data") ? new FileInfo(outPath + ".data").Length : 0);
        double maxAbs = denseOut.Max(v => Math.Abs((double)v));
        double d1 = MaxDiff(denseOut, values, 0, 2560), dp = MaxDiff(denseOut, values, 2560, values.Length);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {c.Name} | {bytes / 1e6:F1} MB | {r.SessionMs:F0} ms | {r.SessionRssMb:F0} MiB | {r.DecodeMs:F2} ms | {r.DecodeMs / dense.DecodeMs:F2}x | {r.PrefillMs:F1} ms | {r.PrefillMs / dense.PrefillMs:F2}x | {r.PeakRssMb:F0} MiB | {d1:G3} / {dp:G3} | {Math.Max(d1, dp) / maxAbs:G3} |"));
    }
}
if (only is null or "memory")
{
    // Resident memory per layer: RSS a 2-layer session adds minus what a 1-layer session adds.
    // The difference is one layer's weights as the session holds them (plus one layer of graph),
    // free of ONNX Runtime's fixed cost, which a single session's number includes.
    Console.WriteLine();
    Console.WriteLine("### Resident memory per layer (RSS added by a 2-layer session minus a 1-layer one)");
    Console.WriteLine();
    Console.WriteLine("| configuration | weight bytes per layer on disk | resident per layer | resident / on disk |");
    Console.WriteLine("|---|---|---|---|");
    var one = Path.Combine(work, "layer-plain.onnx");
    var two = Path.Combine(work, "layers2-plain.onnx");
    if (!File.Exists(two)) SyntheticDecoder.Write(new DecoderShape { Layers = 2, Embedding = false }, two);
    foreach (var (name, target) in new[] { ("dense float32 (`folded`)", "folded"), ("`ort-nbits-int8`", "ort-nbits-int8"), ("`ort-ttf1`", "ort-ttf1") })
    {
        string Compiled(string input, string tag)
        {
            var o = Path.Combine(work, $"{tag}-{target}.onnx");
            if (!File.Exists(o)) TernionCompiler.Compile(new CompileRequest { InputPath = input, OutputPath = o, Target = target });
            return o;
        }
        string c1 = Compiled(one, "layer-plain"), c2 = Compiled(two, "layers2-plain");
        static long Bytes(string m) => new FileInfo(m).Length + (File.Exists(m + ".data") ? new FileInfo(m + ".data").Length : 0);
        var rss = new List<double>();
        for (int i = 0; i < 3; i++)
            rss.Add(RunChild(c2, true, 0, "").SessionRssMb - RunChild(c1, true, 0, "").SessionRssMb);
        rss.Sort();
        double perLayerDisk = (Bytes(c2) - Bytes(c1)) / 1048576.0;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {perLayerDisk:F1} MiB | {rss[1]:F1} MiB | {rss[1] / perLayerDisk:F2}x |"));
    }
}
return 0;

static double MaxDiff(float[] e, float[] a, int from, int to)
{
    double m = 0;
    for (int i = from; i < to; i++) m = Math.Max(m, Math.Abs((double)e[i] - a[i]));
    return m;
}

static Result RunChild(string model, bool fold, int runs, string outputs)
{
    var psi = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true };
    foreach (var a in new[] { "--child", model, fold ? "fold" : "nofold", runs.ToString(CultureInfo.InvariantCulture), outputs.Length == 0 ? "-" : outputs }) psi.ArgumentList.Add(a);
    if (Environment.ProcessPath!.EndsWith("dotnet", StringComparison.Ordinal)) psi.ArgumentList.Insert(0, typeof(Result).Assembly.Location);
    using var p = Process.Start(psi)!;
    string line = p.StandardOutput.ReadToEnd().Trim().Split('\n').Last();
    p.WaitForExit();
    if (p.ExitCode != 0) throw new InvalidOperationException($"child failed for {model}: {line}");
    return JsonSerializer.Deserialize<Result>(line)!;
}

static string Machine()
{
    string cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':')[1].Trim() ?? "?";
    string family = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("cpu family", StringComparison.Ordinal))?.Split(':')[1].Trim() ?? "?";
    string model = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model\t", StringComparison.Ordinal))?.Split(':')[1].Trim() ?? "?";
    return $"{cpu} (family {family} model {model}), {Environment.ProcessorCount} cores, AVX-512 VBMI {GemvOptions.Avx512Available}";
}

static string Load() => File.ReadAllText("/proc/loadavg").Split(' ')[0];

public sealed record Result(double SessionMs, double SessionRssMb, double DecodeMs, double PrefillMs, double PeakRssMb);

public static class Child
{
    public static int Run(string[] a)
    {
        string model = a[0];
        bool fold = a[1] == "fold";
        int runs = int.Parse(a[2], CultureInfo.InvariantCulture);
        string outputs = a[3];
        var m = Ternion.IR.Serialization.ModelSerializer.Load(model);
        var options = new OrtRunOptions { DisabledOptimizers = fold ? [] : ["ConstantFolding"], TernionCustomOps = ModelVerifier.NeedsTernionOps(m) };
        m = null;
        GC.Collect();
        var sessionTimes = new List<double>();
        InferenceSession? session = null;
        double rssAdded = 0;
        for (int i = 0; i < 3; i++)
        {
            session?.Dispose();
            using var so = OrtRunner.MakeSessionOptions(options);
            double before = Status("VmRSS:");
            var sw = Stopwatch.StartNew();
            session = new InferenceSession(model, so);
            sessionTimes.Add(sw.Elapsed.TotalMilliseconds);
            if (i == 0) rssAdded = Status("VmRSS:") - before;
        }
        if (runs == 0)
        {
            // Session only: what memory the session holds, for the per-layer slope.
            Console.WriteLine(JsonSerializer.Serialize(new Result(Median(sessionTimes), rssAdded, 0, 0, Status("VmHWM:"))));
            session!.Dispose();
            return 0;
        }
        var got = new List<float>();
        double Time(int seq, int n)
        {
            var rng = new Random(1);
            var x = RunValue.FromArray(DataType.Float, [1, seq, 2560], Enumerable.Range(0, seq * 2560).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray());
            var inputs = new Dictionary<string, RunValue> { ["hidden_states"] = x };
            var first = OrtRunner.Run(session!, inputs); // warm-up, and the output compared with the dense model's
            got.AddRange(MemoryMarshal.Cast<byte, float>(first.Single().Value.Bytes).ToArray());
            var t = new List<double>();
            for (int i = 0; i < n; i++)
            {
                var sw = Stopwatch.StartNew();
                OrtRunner.Run(session!, inputs);
                t.Add(sw.Elapsed.TotalMilliseconds);
            }
            return Median(t);
        }
        double decode = Time(1, runs);
        double prefill = Time(128, Math.Max(3, runs / 5));
        session!.Dispose();
        File.WriteAllBytes(outputs, MemoryMarshal.AsBytes(got.ToArray().AsSpan()).ToArray());
        Console.WriteLine(JsonSerializer.Serialize(new Result(Median(sessionTimes), rssAdded, decode, prefill, Status("VmHWM:"))));
        return 0;
    }

    /// <summary>A memory line of /proc/self/status, in MB.</summary>
    private static double Status(string key) => File.ReadLines("/proc/self/status").Where(l => l.StartsWith(key, StringComparison.Ordinal))
        .Select(l => double.Parse(l.Split(':')[1].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / 1024).First();

    private static double Median(List<double> v)
    {
        v.Sort();
        return v.Count % 2 == 1 ? v[v.Count / 2] : (v[v.Count / 2 - 1] + v[v.Count / 2]) / 2;
    }
}
