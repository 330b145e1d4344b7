using System.Globalization;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Text;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Perfolizer.Horology;
using Ternion.Backends.Kernels;
using Ternion.IR.Ternary;

// Matrix-vector products of the native target's kernels (Backends/Kernels) on BitNet-2B's two
// shapes: TTF1 decoded in the data path vs 2-bit vs float32, 1 and 2 threads, with the weights
// cache-resident (one copy, reused) or DRAM-bound (a rotation through >= 512 MiB of distinct
// copies, 16x the 32 MiB L3). Writes bench/kernels.md; see it for how to read the numbers.
//
// Usage, from the repository root:
//   dotnet run -c Release --project bench/Ternion.KernelBench -- [--out bench/kernels.md] [BenchmarkDotNet options]
// e.g. `--filter '*Ttf1*'` for one kernel, `--job short` for a quick look.

var outPath = "bench/kernels.md";
bool interleavedOnly = false, bdnOnly = false;
var rest = new List<string>();
for (int i = 0; i < args.Length; i++)
{
    if (args[i] == "--out" && i + 1 < args.Length) outPath = args[++i];
    else if (args[i] == "--interleaved-only") interleavedOnly = true;
    else if (args[i] == "--bdn-only") bdnOnly = true;
    else if (args[i] == "--isa" && i + 1 < args.Length) GemvBench.OnlyIsa = Enum.Parse<GemvIsa>(args[++i], ignoreCase: true);
    else rest.Add(args[i]);
}
var command = "dotnet run -c Release --project bench/Ternion.KernelBench -- " + string.Join(' ', args);
using var load = new LoadSampler();
var started = DateTime.UtcNow;
var sources = new List<(string Title, List<Row> Rows)>();
var roofline = Roofline.Measure();
if (!bdnOnly)
    sources.Add(("Interleaved: one process, the kernels called in turn, median of each", Interleaved.Run()));
if (!interleavedOnly)
{
    var summary = BenchmarkRunner.Run<GemvBench>(new KernelConfig(), rest.ToArray());
    sources.Add(("BenchmarkDotNet: one process per case, median", Report.Rows(summary)));
}
load.Stop();
Report.Write(outPath, sources, roofline, command, started, load);
Console.WriteLine($"wrote {outPath}");

/// <summary>One case's result; the minimum is what the kernel does when nothing else wants the cores.</summary>
public sealed record Row(string Kernel, GemvIsa Isa, string Shape, int Threads, Regime Regime, double MedianNs, double MinNs);

/// <summary>
/// The memory side of the roofline: read bandwidth from DRAM (a 1 GiB buffer, far beyond the
/// 32 MiB L3, summed with AVX2 loads), on 1 and 2 threads, median of 7 passes each.
/// </summary>
public static class Roofline
{
    public static List<(int Threads, double MedianGBs, double MaxGBs)> Measure()
    {
        const long bytes = 1L << 30;
        var buffer = GC.AllocateUninitializedArray<byte>((int)bytes, pinned: true);
        new Random(5).NextBytes(buffer);
        var result = new List<(int, double, double)>();
        foreach (int threads in new[] { 1, 2 })
        {
            var gbs = new List<double>();
            for (int pass = 0; pass < 8; pass++)
            {
                long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
                Sum(buffer, threads);
                double s = System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalSeconds;
                if (pass > 0) gbs.Add(bytes / s / 1e9); // the first pass also faults the pages in
            }
            gbs.Sort();
            result.Add((threads, gbs[gbs.Count / 2], gbs[^1]));
            Console.WriteLine($"roofline: DRAM read, {threads} thread(s): median {gbs[gbs.Count / 2]:F1} GB/s, best {gbs[^1]:F1} GB/s");
        }
        return result;
    }

    private static unsafe ulong Sum(byte[] buffer, int threads)
    {
        ulong total = 0;
        fixed (byte* p = buffer)
        {
            nint bp = (nint)p;
            long per = buffer.LongLength / threads;
            var sums = new ulong[threads];
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
            {
                byte* b = (byte*)bp + t * per, end = b + per;
                Vector256<ulong> a0 = default, a1 = default, a2 = default, a3 = default;
                for (; b < end; b += 128)
                {
                    a0 += Avx2.SumAbsoluteDifferences(Avx.LoadVector256(b), Vector256<byte>.Zero).AsUInt64();
                    a1 += Avx2.SumAbsoluteDifferences(Avx.LoadVector256(b + 32), Vector256<byte>.Zero).AsUInt64();
                    a2 += Avx2.SumAbsoluteDifferences(Avx.LoadVector256(b + 64), Vector256<byte>.Zero).AsUInt64();
                    a3 += Avx2.SumAbsoluteDifferences(Avx.LoadVector256(b + 96), Vector256<byte>.Zero).AsUInt64();
                }
                sums[t] = Vector256.Sum(a0 + a1 + a2 + a3);
            });
            foreach (var v in sums) total += v;
        }
        return total;
    }
}

/// <summary>
/// The same cases without BenchmarkDotNet's process per case: every kernel's matrices live in one
/// process and the kernels run in turn, so a change in machine load hits them all alike and their
/// ratios stay fair on a shared machine. Medians over about 4 s per case. The float32 matrix
/// (71 MB) never fits the cache, so its cache-resident row streams from DRAM like the other.
/// </summary>
public static class Interleaved
{
    public static List<Row> Run()
    {
        var rows = new List<Row>();
        string[] kernels = [nameof(GemvBench.Ttf1), nameof(GemvBench.TwoBit), nameof(GemvBench.Float32), nameof(GemvBench.ReadTwoBitBytes)];
        foreach (var isa in GemvBench.Isas())
        foreach (var shape in new[] { "2560x6912", "6912x2560" })
            foreach (int threads in new[] { 1, 2 })
                foreach (var regime in new[] { Regime.Cache, Regime.Dram })
                {
                    var b = new GemvBench { Isa = isa, Shape = shape, Threads = threads, Regime = regime };
                    b.SetupTtf1(); b.SetupTwoBit(); b.SetupFloat32();
                    Action[] calls = [b.Ttf1, b.TwoBit, b.Float32, () => b.ReadTwoBitBytes()];
                    var times = kernels.Select(_ => new List<double>()).ToArray();
                    var sw = System.Diagnostics.Stopwatch.StartNew();
                    for (int w = 0; w < 3; w++) foreach (var c in calls) c();
                    double round = sw.Elapsed.TotalSeconds / 3;
                    int rounds = Math.Clamp((int)(4.0 / round), 15, 1000);
                    // Cache-resident: each turn first reloads the kernel's matrix into the cache (the other kernels'
                    // turns evicted it, float32's 71 MB most of all), untimed, then times three calls.
                    int untimed = regime == Regime.Cache ? 1 : 0, timed = regime == Regime.Cache ? 3 : 1;
                    rounds = Math.Max(15, rounds / (untimed + timed));
                    for (int r = 0; r < rounds; r++)
                        for (int i = 0; i < calls.Length; i++)
                        {
                            for (int u = 0; u < untimed; u++) calls[i]();
                            for (int t = 0; t < timed; t++)
                            {
                                long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
                                calls[i]();
                                times[i].Add(System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalNanoseconds);
                            }
                        }
                    for (int i = 0; i < kernels.Length; i++)
                    {
                        times[i].Sort();
                        rows.Add(new Row(kernels[i], isa, shape, threads, regime, times[i][times[i].Count / 2], times[i][0]));
                    }
                    Console.WriteLine($"interleaved {isa} {shape} threads {threads} {regime}: {rounds} rounds, " +
                        string.Join(", ", kernels.Select((k, i) => $"{k} {times[i][times[i].Count / 2] / 1e3:F1} us")));
                    b = null;
                    GC.Collect();
                }
        return rows;
    }
}

public enum Regime { Cache, Dram }

public sealed class KernelConfig : ManualConfig
{
    public KernelConfig()
    {
        AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(4).WithIterationCount(15)
            .WithIterationTime(TimeInterval.FromMilliseconds(250)));
        AddColumnProvider(DefaultColumnProviders.Instance);
        AddLogger(BenchmarkDotNet.Loggers.ConsoleLogger.Default);
        WithOptions(ConfigOptions.DisableLogFile);
        // Run from the repository root, this lands in the ignored bench/BenchmarkDotNet.Artifacts.
        ArtifactsPath = Path.Combine("bench", "BenchmarkDotNet.Artifacts");
    }
}

/// <summary>One token through one weight matrix: quantize x, then y = W x. Shape is K x N (MatMul's [K, N]; N outputs).</summary>
public class GemvBench
{
    /// <summary>Bytes the DRAM regime cycles through, per kernel: 16x the L3, so no copy is still cached when it comes round.</summary>
    public const long DramBytes = 512L << 20;

    /// <summary>Set by --isa: time one path only.</summary>
    public static GemvIsa? OnlyIsa;

    /// <summary>The vector paths this CPU has (AVX-512 VBMI and AVX2 on Zen 4; AVX2 on Zen 3), every kernel forced to each.</summary>
    public static IEnumerable<GemvIsa> Isas() => OnlyIsa is { } only ? [only]
        : GemvOptions.Available.Where(i => i != GemvIsa.Scalar).Reverse();

    [ParamsSource(nameof(Isas))] public GemvIsa Isa = GemvIsa.Auto;
    [Params("2560x6912", "6912x2560")] public string Shape = "2560x6912";
    [Params(1, 2)] public int Threads;
    [Params(Regime.Cache, Regime.Dram)] public Regime Regime;

    private int _k, _n, _nextTtf1, _nextTwoBit, _nextDense;
    private float[] _x = [], _y = [], _scales = [];
    private sbyte[] _trits = [];
    private Aligned<byte>[] _ttf1 = [], _twoBit = [];
    private Aligned<float>[] _dense = [];
    private TernaryLayout _layout;
    private GemvOptions _options;

    public static (int K, int N) Parse(string shape)
    {
        var p = shape.Split('x');
        return (int.Parse(p[0], CultureInfo.InvariantCulture), int.Parse(p[1], CultureInfo.InvariantCulture));
    }

    public static long WeightBytes(string kernel, string shape)
    {
        var (k, n) = Parse(shape);
        return kernel switch
        {
            nameof(Ttf1) => n * TernaryLayout.Matrix(n, k).RowBytes,
            nameof(TwoBit) or nameof(ReadTwoBitBytes) => n * TwoBitGemv.RowBytes(k),
            nameof(Float32) => 4L * n * k,
            _ => throw new ArgumentException(kernel),
        };
    }

    private void Common()
    {
        (_k, _n) = Parse(Shape);
        _layout = TernaryLayout.Matrix(_n, _k);
        _options = new GemvOptions(Threads, Isa);
        var rnd = new Random(42);
        _x = new float[_k];
        for (int i = 0; i < _k; i++) _x[i] = (float)(rnd.NextDouble() * 2 - 1);
        _y = new float[_n];
        _scales = new float[_n];
        for (int i = 0; i < _n; i++) _scales[i] = 0.01f + (float)rnd.NextDouble() * 0.02f;
        var bytes = new byte[_n * _k];
        rnd.NextBytes(bytes);
        _trits = new sbyte[bytes.Length];
        for (int i = 0; i < bytes.Length; i++) _trits[i] = (sbyte)(bytes[i] % 3 - 1);
        _nextTtf1 = _nextTwoBit = _nextDense = 0;
    }

    private int CopyCount(long bytes) => Regime == Regime.Cache ? 1 : (int)((DramBytes + bytes - 1) / bytes);

    /// <summary>
    /// Copies of one matrix, copy c with its rows rotated by c * 7919 so that no two copies hold the
    /// same page (a hypervisor that merges identical pages would otherwise make them one). Each copy
    /// starts on a 64-byte boundary, as ONNX Runtime's buffers and 4096-aligned external data do: a
    /// 512-bit load that straddles two cache lines would otherwise cost the AVX-512 kernels twice.
    /// </summary>
    private Aligned<T>[] Copies<T>(T[] matrix, int rowLength) where T : unmanaged
    {
        var copies = new Aligned<T>[CopyCount((long)matrix.Length * System.Runtime.CompilerServices.Unsafe.SizeOf<T>())];
        for (int c = 0; c < copies.Length; c++)
        {
            var copy = new Aligned<T>(matrix.Length);
            var span = copy.Span;
            int shift = (int)((long)c * 7919 % _n) * rowLength;
            matrix.AsSpan(shift).CopyTo(span);
            matrix.AsSpan(0, shift).CopyTo(span[(matrix.Length - shift)..]);
            copies[c] = copy;
        }
        return copies;
    }

    [GlobalSetup(Target = nameof(Ttf1))]
    public void SetupTtf1()
    {
        Common();
        var packed = new byte[_layout.PackedBytes];
        TernaryCodec.Encode(_trits, _layout, packed).ThrowIfFailed("bench", _layout);
        _ttf1 = Copies(packed, (int)_layout.RowBytes);
    }

    [GlobalSetup(Targets = [nameof(TwoBit), nameof(ReadTwoBitBytes)])]
    public void SetupTwoBit()
    {
        Common();
        _twoBit = Copies(TwoBitGemv.Pack(_trits, _n, _k), (int)TwoBitGemv.RowBytes(_k));
    }

    [GlobalSetup(Target = nameof(Float32))]
    public void SetupFloat32()
    {
        Common();
        var dense = new float[_trits.Length];
        for (int i = 0; i < dense.Length; i++) dense[i] = _trits[i] * _scales[i / _k];
        _dense = Copies(dense, _k);
    }

    private static Span<T> Next<T>(Aligned<T>[] copies, ref int next) where T : unmanaged
    {
        var w = copies[next];
        next = next + 1 == copies.Length ? 0 : next + 1;
        return w.Span;
    }

    [Benchmark]
    public void Ttf1() => TernaryGemv.Multiply(Next(_ttf1, ref _nextTtf1), _layout, _scales, _x, _y, _options);

    [Benchmark(Baseline = true)]
    public void TwoBit() => TwoBitGemv.Multiply(Next(_twoBit, ref _nextTwoBit), _n, _k, _scales, _x, _y, _options);

    [Benchmark]
    public void Float32() => Float32Gemv.Multiply(Next(_dense, ref _nextDense), _n, _k, _x, _y, _options);

    /// <summary>The memory roofline for the 2-bit bytes: the same reads and thread split with no arithmetic but a sum.</summary>
    [Benchmark]
    public unsafe long ReadTwoBitBytes()
    {
        var w = Next(_twoBit, ref _nextTwoBit);
        long total = 0;
        int rowBytes = (int)TwoBitGemv.RowBytes(_k);
        fixed (byte* p = w)
        {
            nint wp = (nint)p;
            int threads = Math.Max(1, Threads);
            var sums = new long[threads];
            System.Threading.Tasks.Parallel.For(0, Math.Max(1, Threads), new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, Threads) }, t =>
            {
                int per = (_n + Threads - 1) / Math.Max(1, Threads), first = t * per, end = Math.Min(_n, first + per);
                var acc = Vector256<ulong>.Zero;
                byte* b = (byte*)wp + (long)first * rowBytes, stop = (byte*)wp + (long)end * rowBytes;
                for (; b < stop; b += 64)
                    acc += Avx2.SumAbsoluteDifferences(Avx.LoadVector256(b), Vector256<byte>.Zero).AsUInt64()
                         + Avx2.SumAbsoluteDifferences(Avx.LoadVector256(b + 32), Vector256<byte>.Zero).AsUInt64();
                sums[t] = (long)Vector256.Sum(acc);
            });
            foreach (var s in sums) total += s;
        }
        return total;
    }
}

/// <summary>A pinned array of T whose span starts on a 64-byte boundary.</summary>
public sealed class Aligned<T> where T : unmanaged
{
    private readonly T[] _array;
    private readonly int _offset, _length;

    public unsafe Aligned(int length)
    {
        int pad = 64 / sizeof(T);
        _array = GC.AllocateUninitializedArray<T>(length + pad, pinned: true);
        fixed (T* p = _array) _offset = (int)((64 - ((nint)p & 63)) & 63) / sizeof(T);
        _length = length;
    }

    public Span<T> Span => _array.AsSpan(_offset, _length);
}

/// <summary>Samples /proc/loadavg every 5 s while the benchmarks run: the machine is shared.</summary>
public sealed class LoadSampler : IDisposable
{
    private readonly Timer _timer;
    private readonly List<double> _samples = [];
    public LoadSampler() => _timer = new Timer(_ => Sample(), null, 0, 5000);
    public static double? Now()
    {
        try { return double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture); }
        catch (IOException) { return null; }
    }
    private void Sample() { if (Now() is double v) lock (_samples) _samples.Add(v); }
    public void Stop() => _timer.Change(Timeout.Infinite, Timeout.Infinite);
    public (double Min, double Median, double Max, int Count) Stats()
    {
        lock (_samples)
        {
            if (_samples.Count == 0) return (double.NaN, double.NaN, double.NaN, 0);
            var s = _samples.OrderBy(v => v).ToArray();
            return (s[0], s[s.Length / 2], s[^1], s.Length);
        }
    }
    public void Dispose() => _timer.Dispose();
}

public static class Report
{
    private const string NotesMarker = "<!-- Everything below this line is kept when the benchmark rewrites the file. -->";

    public static List<Row> Rows(Summary summary)
    {
        var rows = summary.Reports
            .Where(r => r.ResultStatistics is not null)
            .Select(r => (Job: r.BenchmarkCase.Job.ResolvedId, Row: new Row(
                r.BenchmarkCase.Descriptor.WorkloadMethod.Name,
                (GemvIsa)r.BenchmarkCase.Parameters["Isa"],
                (string)r.BenchmarkCase.Parameters["Shape"],
                (int)r.BenchmarkCase.Parameters["Threads"],
                (Regime)r.BenchmarkCase.Parameters["Regime"],
                r.ResultStatistics!.Median,
                r.ResultStatistics!.Min))).ToList();
        // Extra jobs from the command line (--job short, ...) would mix into one table: keep the first job only.
        var job = rows.Select(r => r.Job).FirstOrDefault();
        return rows.Where(r => r.Job == job).Select(r => r.Row).ToList();
    }

    public static void Write(string path, List<(string Title, List<Row> Rows)> sources, List<(int Threads, double MedianGBs, double MaxGBs)> roofline,
        string command, DateTime started, LoadSampler load)
    {
        var md = new StringBuilder();
        var (lmin, lmed, lmax, lcount) = load.Stats();
        md.AppendLine("# Matrix-vector kernels: TTF1 vs 2-bit vs float32");
        md.AppendLine();
        md.AppendLine($"Generated by bench/Ternion.KernelBench (BenchmarkDotNet 0.15.8), run started {started:yyyy-MM-dd HH:mm} UTC.");
        md.AppendLine();
        md.AppendLine($"- Machine: {CpuName()}, {Environment.ProcessorCount} cores; {Isa()}; .NET {Environment.Version}.");
        md.AppendLine($"- Load average (1 min) during the run: min {lmin:F2}, median {lmed:F2}, max {lmax:F2} ({lcount} samples, every 5 s). The machine is shared: compare ratios within a row group, not absolute times across runs.");
        md.AppendLine($"- Command: `{command.Trim()}`");
        md.AppendLine("- One call = one token: quantize x to int8 (per token, absmax) and y = W x for all N outputs (float32: no quantization). Times are per call: the median, and the minimum, which is what the kernel does when no other process wants the cores (on this shared machine the second core is often busy, so 2-thread medians mostly measure that).");
        md.AppendLine("- GB/s = weight bytes of the matrix / time (10^9 bytes). Cache: one copy reused (TTF1 and 2-bit fit the 32 MiB L3, not the 1 MiB L2; float32 does not fit at all). DRAM: a rotation through >= 512 MiB of distinct copies.");
        md.AppendLine("- `ReadTwoBitBytes`: the same bytes as 2-bit, only summed: the memory roofline for that regime and thread count.");
        md.AppendLine("- Path: the instruction set every kernel of the row group was forced to (`GemvOptions.Isa`): `Avx512` = AVX-512 BW/VBMI (vpermb/vpermi2b decode for TTF1), `Avx2` = 256-bit AVX2; the same path for TTF1, 2-bit and float32 in a group.");
        md.AppendLine();
        md.AppendLine("DRAM read bandwidth of this machine in the same run (1 GiB buffer summed, median / best of 7 passes):");
        md.AppendLine();
        md.AppendLine("| threads | median GB/s | best GB/s |");
        md.AppendLine("|---|---|---|");
        foreach (var (threads, median, max) in roofline) md.AppendLine($"| {threads} | {median:F1} | {max:F1} |");
        md.AppendLine();
        foreach (var (title, rows) in sources)
        {
            md.AppendLine($"## {title}");
            md.AppendLine();
            foreach (var regime in new[] { Regime.Cache, Regime.Dram })
            {
                if (!rows.Any(r => r.Regime == regime)) continue;
                md.AppendLine($"### {(regime == Regime.Cache ? "Cache-resident (same matrix every call)" : "DRAM-bound (every call streams a different copy)")}");
                md.AppendLine();
                md.AppendLine("| path | K x N | threads | kernel | weight MB | median µs / token | GB/s | speed vs 2-bit | min µs | GB/s at min | vs 2-bit at min |");
                md.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
                foreach (var group in rows.Where(r => r.Regime == regime).GroupBy(r => (r.Isa, r.Shape, r.Threads)).OrderByDescending(g => g.Key.Isa).ThenBy(g => g.Key.Shape).ThenBy(g => g.Key.Threads))
                {
                    var twoBit = group.FirstOrDefault(r => r.Kernel == nameof(GemvBench.TwoBit));
                    foreach (var r in group.OrderBy(r => Order(r.Kernel)))
                    {
                        long bytes = GemvBench.WeightBytes(r.Kernel, r.Shape);
                        string vs = twoBit is null ? "" : $"{twoBit.MedianNs / r.MedianNs:F2}x";
                        string vsMin = twoBit is null ? "" : $"{twoBit.MinNs / r.MinNs:F2}x";
                        md.AppendLine($"| {r.Isa} | {r.Shape} | {r.Threads} | {r.Kernel} | {bytes / 1e6:F2} | {r.MedianNs / 1e3:F1} | {bytes / r.MedianNs:F2} | {vs} | {r.MinNs / 1e3:F1} | {bytes / r.MinNs:F2} | {vsMin} |");
                    }
                }
                md.AppendLine();
            }
            md.AppendLine("Ratios (speed = 1 / time; > 1 means the first is faster), of medians and, in brackets, of minima:");
            md.AppendLine();
            md.AppendLine("| path | regime | K x N | threads | TTF1 / 2-bit | TTF1 / float32 | 2-bit / float32 |");
            md.AppendLine("|---|---|---|---|---|---|---|");
            foreach (var g in rows.GroupBy(r => (r.Isa, r.Regime, r.Shape, r.Threads)).OrderByDescending(g => g.Key.Isa).ThenBy(g => g.Key.Regime).ThenBy(g => g.Key.Shape).ThenBy(g => g.Key.Threads))
            {
                Row? T(string k) => g.FirstOrDefault(r => r.Kernel == k);
                string R(Row? a, Row? b) => a is not null && b is not null ? $"{b.MedianNs / a.MedianNs:F2} ({b.MinNs / a.MinNs:F2})" : "";
                md.AppendLine($"| {g.Key.Isa} | {g.Key.Regime} | {g.Key.Shape} | {g.Key.Threads} | {R(T(nameof(GemvBench.Ttf1)), T(nameof(GemvBench.TwoBit)))} | {R(T(nameof(GemvBench.Ttf1)), T(nameof(GemvBench.Float32)))} | {R(T(nameof(GemvBench.TwoBit)), T(nameof(GemvBench.Float32)))} |");
            }
            md.AppendLine();
        }
        md.AppendLine(NotesMarker);
        string notes = "";
        if (File.Exists(path))
        {
            var old = File.ReadAllText(path);
            int at = old.IndexOf(NotesMarker, StringComparison.Ordinal);
            if (at >= 0) notes = old[(at + NotesMarker.Length)..].TrimStart('\r', '\n');
        }
        md.Append(notes);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.WriteAllText(path, md.ToString());
    }

    private static int Order(string kernel) => kernel switch
    {
        nameof(GemvBench.Ttf1) => 0, nameof(GemvBench.TwoBit) => 1, nameof(GemvBench.Float32) => 2, _ => 3,
    };

    private static string CpuName()
    {
        try
        {
            var lines = File.ReadAllLines("/proc/cpuinfo");
            string Get(string key) => lines.FirstOrDefault(l => l.StartsWith(key, StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?";
            return $"{Get("model name")} (family {Get("cpu family")} model {Get("model\t")})";
        }
        catch (IOException) { return "unknown CPU"; }
    }

    private static string Isa() =>
        $"AVX2 {Avx2.IsSupported}, FMA {Fma.IsSupported}, AVX-512F {Avx512F.IsSupported}, AVX-512 VBMI {Avx512Vbmi.IsSupported}, AVX-VNNI {AvxVnni.IsSupported}";
}
