using Google.Protobuf;
using Ternion.IR.Onnx;

namespace Ternion.IR.Serialization;

public enum ExternalDataMode
{
    /// <summary>Keep external tensors external; move large tensors out too when the file would pass 2 GiB.</summary>
    Auto,
    /// <summary>Every tensor of at least <see cref="SaveOptions.ExternalThreshold"/> bytes goes to the data file.</summary>
    Always,
    /// <summary>Everything inline; refused when the file would pass 2 GiB.</summary>
    Never,
}

public sealed record SaveOptions
{
    public ExternalDataMode ExternalData { get; init; } = ExternalDataMode.Auto;
    /// <summary>Offset alignment of each tensor in the data file (at least 64; 4096 suits memory mapping).</summary>
    public int Alignment { get; init; } = 4096;
    /// <summary>Tensors smaller than this stay inline.</summary>
    public long ExternalThreshold { get; init; } = 1024;
    /// <summary>Data file name, next to the model; default "&lt;model file name&gt;.data".</summary>
    public string? DataFileName { get; init; }
    /// <summary>Per-tensor override: return true to force a tensor external (e.g. packed weights for a native target).</summary>
    public Func<Tensor, bool>? ForceExternal { get; init; }
    /// <summary>Told how much will be written, then after each tensor how much is done.</summary>
    public ISaveProgress? Progress { get; init; }
    public static SaveOptions Default { get; } = new();
}

/// <summary>What a save wrote.</summary>
/// <summary>Progress of a save, for a progress bar: totals first, then running counts.</summary>
public interface ISaveProgress
{
    void Begin(int tensors, long bytes);
    void Advance(int tensorsDone, long bytesDone);
}

public sealed record SaveResult(string ModelPath, string? DataPath, long ModelBytes, long DataBytes, int ExternalTensors);

/// <summary>Reads and writes ONNX files: lossless, deterministic, and never leaving a half-written file.</summary>
public static class ModelSerializer
{
    /// <summary>Protobuf messages cannot exceed 2 GiB; keep a margin for everything around the tensors.</summary>
    public const long ProtobufLimit = int.MaxValue;
    private const long InlineBudget = ProtobufLimit - (64L << 20);

    /// <summary>
    /// Loads a model file. Tensor bytes are not read: external data and the large data fields of
    /// inline tensors stay in their files (held open while the model's tensors may be read) and are
    /// mapped only when a tensor is opened or written.
    /// </summary>
    public static Model Load(string path, LoadLimits? limits = null)
    {
        limits ??= LoadLimits.Default;
        // Path.GetFullPath throws ArgumentException on "": a usage error, not an internal one.
        if (string.IsNullOrEmpty(path)) throw new ModelFormatException(null, "no model file given: the path is empty");
        var full = Path.GetFullPath(path);
        // Through any links: the file that is read (a link's own FileInfo has the link's length).
        string real = PathSafety.RealPath(full);
        var info = new FileInfo(real);
        if (Directory.Exists(full)) throw new ModelFormatException(path, "is a folder, not a model file");
        if (!info.Exists) throw new ModelFormatException(path, "file not found");
        if (info.Length == 0) throw new ModelFormatException(path, "file is empty");
        CheckFileSize(path, info.Length);
        ModelFileSource source;
        try
        {
            var handle = ReadOnlyFile.Open(full);
            // The length of what was opened, not of what the path named a moment ago.
            long length = RandomAccess.GetLength(handle);
            if (length == 0) { handle.Dispose(); throw new ModelFormatException(path, "file is empty"); }
            if (length > ProtobufLimit) { handle.Dispose(); CheckFileSize(path, length); }
            source = new ModelFileSource(handle, full, path, length);
        }
        catch (IOException e) { throw new ModelFormatException(path, $"cannot read: {e.Message}"); }
        catch (UnauthorizedAccessException e) { throw new ModelFormatException(path, $"cannot read: {e.Message}"); }

        Model model;
        bool keepOpen = false;
        try
        {
            // A model file that is a link (the Hugging Face hub cache) may find its data beside what it links to.
            string? physicalDir = Path.GetDirectoryName(real);
            if (physicalDir == PathSafety.RealPath(Path.GetDirectoryName(full)!)) physicalDir = null;
            model = FromFile(source, path, Path.GetDirectoryName(full), limits, out keepOpen, physicalDir);
        }
        finally
        {
            // Nothing was left in the file: close it now rather than when the collector gets to it.
            if (!keepOpen) source.Close();
        }
        model.SourcePath = full;
        model.SourceDirectory = Path.GetDirectoryName(full);
        model.SourceFiles.UnionWith(SourceFiles(model));
        return model;
    }

    private static void CheckFileSize(string path, long length)
    {
        if (length > ProtobufLimit)
            throw new ModelFormatException(path, $"file is {length:N0} bytes; an ONNX protobuf file cannot exceed 2 GiB (large weights belong in external data)");
    }

    private static unsafe Model FromFile(ModelFileSource source, string displayName, string? baseDir, LoadLimits limits, out bool keepOpen, string? physicalDir = null)
    {
        MappedRange whole;
        try { whole = source.MapAll(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new ModelFormatException(displayName, $"cannot read: {e.Message}");
        }
        using (whole)
        {
            // The walk reads tags and lengths a few per tensor: read no more of the file than those pages.
            whole.AdviseRandomAccess();
            var span = whole.GetSpan();
            using var pin = whole.Pin();
            long length = span.Length;
            byte* pointer = (byte*)pin.Pointer;
            return FromSpan(span, () => new UnmanagedMemoryStream(pointer, length), source, displayName, baseDir, limits, out keepOpen, physicalDir);
        }
    }

    /// <summary>
    /// Parses a model from bytes; <paramref name="baseDir"/> is where external data is looked for.
    /// The large tensors of the model are views onto <paramref name="bytes"/>, not copies: do not
    /// change the array while the model is in use.
    /// </summary>
    public static Model FromBytes(byte[] bytes, string displayName = "<memory>", string? baseDir = null, LoadLimits? limits = null)
    {
        limits ??= LoadLimits.Default;
        var model = FromSpan(bytes, () => new MemoryStream(bytes, writable: false), new MemorySource(bytes, displayName), displayName, baseDir, limits, out _);
        model.SourceDirectory = baseDir;
        return model;
    }

    /// <summary>
    /// Parses the model whole with Google.Protobuf, every tensor byte copied, as Ternion read models
    /// before reading in place: the reference the tests hold the in-place reader to.
    /// </summary>
    internal static Model FromBytesParsedWhole(byte[] bytes, string displayName = "<memory>", string? baseDir = null, LoadLimits? limits = null) =>
        FromSpan(bytes, () => new MemoryStream(bytes, writable: false), null, displayName, baseDir, limits ?? LoadLimits.Default, out _);

    private static Model FromSpan(ReadOnlySpan<byte> bytes, Func<Stream> openWhole, PayloadSource? source, string displayName, string? baseDir, LoadLimits limits, out bool keptPayloads, string? physicalDir = null)
    {
        var read = PayloadReader.Read(bytes, openWhole, source, RecursionLimit(limits), stream => ParseModelProto(stream, displayName, limits));
        var model = new ProtoReader(displayName, baseDir, limits, read.Payloads, physicalDir).ReadModel(read.Proto);
        model.SourceDirectory = baseDir;
        ModelValidator.Validate(model, displayName, limits);
        keptPayloads = read.Payloads is { Count: > 0 };
        return model;
    }

    // Each level of subgraph costs three message levels (Graph > Node > Attribute), plus types.
    private static int RecursionLimit(LoadLimits limits) => 3 * (limits.MaxSubgraphDepth + 1) + 40;

    internal static ModelProto ParseModelProto(byte[] bytes, string displayName, LoadLimits limits)
    {
        using var ms = new MemoryStream(bytes, writable: false);
        return ParseModelProto(ms, displayName, limits);
    }

    internal static ModelProto ParseModelProto(Stream stream, string displayName, LoadLimits limits)
    {
        try
        {
            var input = CodedInputStream.CreateWithLimits(stream, int.MaxValue, RecursionLimit(limits));
            var proto = new ModelProto();
            proto.MergeFrom(input);
            return proto;
        }
        catch (InvalidProtocolBufferException e) when (e.Message.Contains("recursion", StringComparison.OrdinalIgnoreCase))
        {
            // Protobuf counts message levels, not subgraphs: a deeply nested type trips the same limit.
            throw new ModelFormatException(displayName, $"subgraphs are nested deeper than {limits.MaxSubgraphDepth} levels, or another part of the file (e.g. a type) is nested as deeply");
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new ModelFormatException(displayName, $"not a valid ONNX model (protobuf: {FirstLine(e.Message)})");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Malformed strings and the like surface as other exception types; they mean the same.
            throw new ModelFormatException(displayName, $"not a valid ONNX model ({FirstLine(e.Message)})");
        }
    }

    private static string FirstLine(string s) => s.Split('\n')[0].Trim();

    /// <summary>Serializes with every tensor inline (for in-memory use, e.g. handing a model to ONNX Runtime); the same bytes Save writes.</summary>
    public static byte[] ToBytes(Model model)
    {
        long inline = model.AllTensors().Sum(t => t.ByteLength);
        if (inline > InlineBudget)
            throw new TernionException($"model holds {inline:N0} bytes of tensors; over protobuf's 2 GiB limit, it can only be saved with external data");
        var writer = new SplicingWriter();
        long size = writer.Prepare(new ProtoWriter(writer.Inline).WriteModel(model));
        if (size > ProtobufLimit)
            throw new TernionException($"the model would be {size:N0} bytes, over protobuf's 2 GiB limit; it can only be saved with external data");
        var bytes = new byte[size];
        using var ms = new MemoryStream(bytes, writable: true);
        writer.WriteTo(ms);
        if (ms.Position != size) throw new InvalidOperationException($"serialized {ms.Position:N0} bytes, expected {size:N0}");
        return bytes;
    }

    /// <summary>Converts to a ModelProto with every tensor inline (tests compare these field by field).</summary>
    public static ModelProto ToProto(Model model) => new ProtoWriter(ProtoWriter.Inline).WriteModel(model);

    public static TensorProto TensorToProto(Tensor t) => ProtoWriter.Inline(t);

    public static Tensor TensorFromProto(TensorProto p, string displayName = "<tensor>", string? baseDir = null) =>
        new ProtoReader(displayName, baseDir, LoadLimits.Default).ReadTensor(p, $"tensor '{p.Name}'");

    /// <summary>
    /// Writes the model to <paramref name="path"/> (and its data file). Everything goes to temporary
    /// files in the target folder first and is renamed into place at the end, so a failure leaves
    /// nothing half-written. Refuses to overwrite the model's own source files.
    /// </summary>
    public static SaveResult Save(Model model, string path, SaveOptions? options = null)
    {
        options ??= SaveOptions.Default;
        if (options.Alignment < 64 || (options.Alignment & (options.Alignment - 1)) != 0)
            throw new TernionException($"alignment {options.Alignment} must be a power of two of at least 64");
        if (string.IsNullOrEmpty(path)) throw new TernionException("the output path is empty");
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(dir)) throw new TernionException($"{path}: output folder '{dir}' does not exist");
        if (Directory.Exists(full)) throw new TernionException($"{path}: is a folder");
        string dataName = options.DataFileName ?? Path.GetFileName(full) + ".data";
        if (dataName.Contains('/') || dataName.Contains('\\')) throw new TernionException($"data file name '{dataName}' must be a plain file name");
        string dataFull = Path.Combine(dir, dataName);

        var sources = SourceFiles(model);
        foreach (var target in new[] { full, dataFull })
            if (sources.Contains(PathSafety.RealPath(target)))
                throw new TernionException($"{path}: refusing to overwrite '{Path.GetFileName(target)}', which the model was read from; choose another output path");

        var plan = PlanExternal(model, options);
        // Progress counts every tensor whose bytes are written one by one: those going to the data
        // file, and the large ones streamed into the model file.
        var streamed = model.AllTensors().Where(t => !plan.Contains(t) && SplicingWriter.Streams(t)).ToList();
        options.Progress?.Begin(plan.Count + streamed.Count, plan.Sum(t => t.ByteLength) + streamed.Sum(t => t.ByteLength));
        string tmpModel = Path.Combine(dir, $".{Path.GetFileName(full)}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}");
        string tmpData = Path.Combine(dir, $".{dataName}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}");
        FileStream? data = null, modelFile = null;
        Writeback dataWriteback = new(), modelWriteback = new();
        // Weights packed while writing are computed on another core ahead of the writer.
        using var prefetch = ComputedPrefetch.Start(model.AllTensors().Where(t => plan.Contains(t) && t.Data.IsComputed));
        try
        {
            long dataLen = 0, inlineBytes = 0;
            int externalCount = 0, tensorsDone = 0;
            var writer = new SplicingWriter(written =>
            {
                inlineBytes += written;
                options.Progress?.Advance(++tensorsDone, dataLen + inlineBytes);
                if (modelFile is not null) modelWriteback.Advance(modelFile);
            });
            TensorProto WriteTensor(Tensor t)
            {
                if (!plan.Contains(t)) return writer.Inline(t);
                data ??= new FileStream(tmpData, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
                long pad = (options.Alignment - dataLen % options.Alignment) % options.Alignment;
                if (pad > 0) { data.Write(new byte[pad]); dataLen += pad; }
                long offset = dataLen;
                if (prefetch is not null && prefetch.TryTake(t, out var computed))
                    using (computed) data.Write(computed.Span);
                else t.Data.CopyTo(data);
                long len = data.Position - offset;
                if (len != t.ByteLength) throw new TernionException($"tensor '{t.Name}': wrote {len} bytes, expected {t.ByteLength}");
                dataLen += len;
                externalCount++;
                dataWriteback.Advance(data);
                options.Progress?.Advance(++tensorsDone, dataLen + inlineBytes);
                var p = ProtoWriter.NewWithResidue(t);
                ProtoWriter.WriteHeader(t, p);
                p.DataLocation = TensorProto.Types.DataLocation.External;
                p.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = dataName });
                p.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString(System.Globalization.CultureInfo.InvariantCulture) });
                p.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = len.ToString(System.Globalization.CultureInfo.InvariantCulture) });
                if (t.Residue is { } r) p.ExternalData.AddRange(r.ExternalData.Select(e => e.Clone()));
                return p;
            }

            var proto = new ProtoWriter(WriteTensor).WriteModel(model);
            // The skeleton (the model without its streamed tensor bytes) first: past 2 GiB it cannot even be serialized.
            long size = ComputeSize(proto);
            if (size <= ProtobufLimit) size = writer.Prepare(proto);
            if (size > ProtobufLimit)
                throw new TernionException($"{path}: the model would be {size:N0} bytes, over protobuf's 2 GiB limit; save with external data (--external-data auto)");
            using (var fs = new FileStream(tmpModel, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                modelFile = fs;
                writer.WriteTo(fs);
                if (fs.Position != size) throw new InvalidOperationException($"wrote {fs.Position:N0} bytes of the model, expected {size:N0}");
                fs.Flush(flushToDisk: true);
            }
            if (data is not null)
            {
                data.Flush(flushToDisk: true);
                data.Dispose();
                data = null;
                File.Move(tmpData, dataFull, overwrite: true);
            }
            File.Move(tmpModel, full, overwrite: true);
            return new SaveResult(full, externalCount > 0 ? dataFull : null, size, dataLen, externalCount);
        }
        catch (IOException e) when (IsDiskFull(e))
        {
            // The message names the temporary file, which is gone by the time the user reads it.
            throw new TernionException($"{path}: the disk is full (no space left on the device); nothing was written", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Name the output the user asked for, not the temporary file the message mentions.
            string why = e.Message.Replace(tmpModel, full, StringComparison.Ordinal).Replace(tmpData, dataFull, StringComparison.Ordinal).Trim();
            throw new TernionException($"{path}: writing failed ({why}); nothing was written", e);
        }
        finally
        {
            // Still open only when the save failed. Disposing flushes its buffer, which fails again
            // on a full disk: that must neither replace the first error nor skip the clean-up.
            try { data?.Dispose(); } catch (IOException) { }
            TryDelete(tmpModel);
            TryDelete(tmpData);
        }
    }

    private static bool IsDiskFull(IOException e) =>
        (e.HResult & 0xFFFF) == 28 /* ENOSPC */ || (e.HResult & 0xFFFF) == 112 || e.Message.Contains("No space left", StringComparison.OrdinalIgnoreCase);

    private static void TryDelete(string p)
    {
        try { if (File.Exists(p)) File.Delete(p); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private static long ComputeSize(ModelProto p)
    {
        // CalculateSize is an int and wraps past 2 GiB: add up the graph parts in long arithmetic.
        long size = 0;
        foreach (var init in p.Graph.Initializer) size += init.CalculateSize() + 8;
        foreach (var n in p.Graph.Node) size += n.CalculateSize() + 8;
        foreach (var f in p.Functions) size += f.CalculateSize() + 8;
        return size > ProtobufLimit ? size : p.CalculateSize();
    }

    private static HashSet<string> SourceFiles(Model model)
    {
        var set = new HashSet<string>(model.SourceFiles, StringComparer.Ordinal);
        if (model.SourcePath is { } sp) set.Add(PathSafety.RealPath(sp));
        foreach (var t in model.AllTensors())
        {
            if (t.Data is ExternalTensorData e) set.Add(PathSafety.RealPath(e.FullPath));
            // An inline tensor still read from another model's file (moved between models by a pass).
            else if (t.Data is ProtoTensorData { Payload.Source: ModelFileSource f }) set.Add(PathSafety.RealPath(f.FullPath));
        }
        return set;
    }

    private static HashSet<Tensor> PlanExternal(Model model, SaveOptions o)
    {
        var plan = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        // String tensors have no raw form; a tensor of segments cannot be read (it stays as read).
        var all = model.AllTensors().Where(t => t.DataType != DataType.String && t.Data is not ProtoTensorData { HasSegment: true }).ToList();
        switch (o.ExternalData)
        {
            case ExternalDataMode.Always:
                foreach (var t in all) if (t.ByteLength >= o.ExternalThreshold || (o.ForceExternal?.Invoke(t) ?? false)) plan.Add(t);
                break;
            case ExternalDataMode.Never:
                long total = all.Sum(t => t.ByteLength);
                if (total > InlineBudget)
                    throw new TernionException($"the model holds {total:N0} bytes of tensors, over protobuf's 2 GiB limit; it needs external data (--external-data auto)");
                break;
            default:
                foreach (var t in all) if (t.IsExternal || (o.ForceExternal?.Invoke(t) ?? false)) plan.Add(t);
                long inline = all.Where(t => !plan.Contains(t)).Sum(t => t.ByteLength);
                if (inline > InlineBudget)
                    foreach (var t in all) if (t.ByteLength >= o.ExternalThreshold) plan.Add(t);
                break;
        }
        return plan;
    }

    /// <summary>Every tensor of the model: initializers and attribute tensors in all graphs and functions.</summary>
    public static IEnumerable<Tensor> AllTensors(this Model model)
    {
        foreach (var g in model.AllGraphs())
        {
            foreach (var v in g.Initializers) yield return v.Initializer!;
            foreach (var n in g.Nodes)
                foreach (var a in n.Attributes)
                {
                    if (a.AsTensor is { } t) yield return t;
                    foreach (var x in a.Tensors) yield return x;
                }
        }
        foreach (var f in model.Functions)
            foreach (var a in f.AttributeDefaults)
            {
                if (a.AsTensor is { } t) yield return t;
                foreach (var x in a.Tensors) yield return x;
            }
    }
}
