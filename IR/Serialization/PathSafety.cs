namespace Ternion.IR.Serialization;

/// <summary>Checks that an external-data location stays inside the model's folder.</summary>
public static class PathSafety
{
    /// <summary>
    /// Resolves <paramref name="location"/> against <paramref name="baseDir"/> and returns the full
    /// path, or throws with the reason when it is absolute, climbs out with "..", or leaves the
    /// folder through a symbolic link. <paramref name="physicalDir"/>, when given, is the folder the
    /// model file really is in (its path with links resolved): a data file that resolves into it is
    /// accepted too. That is the Hugging Face hub cache, where `snapshots/REV/model.onnx` and
    /// `snapshots/REV/model.onnx.data` are both links into one `blobs/` folder.
    /// </summary>
    public static string ResolveInside(string baseDir, string location, string describe, string? physicalDir = null) =>
        ResolveInside(baseDir, location, describe, physicalDir, out _);

    /// <inheritdoc cref="ResolveInside(string, string, string, string?)"/>
    /// <param name="real">The returned path with every link resolved: the file that will be read.</param>
    public static string ResolveInside(string baseDir, string location, string describe, string? physicalDir, out string real)
    {
        if (string.IsNullOrEmpty(location))
            throw new TernionException($"{describe}: external data has an empty location");
        if (location.Contains('\0'))
            throw new TernionException($"{describe}: external data location contains a NUL character");
        if (Path.IsPathRooted(location) || location.StartsWith('/') || location.StartsWith('\\') || (location.Length > 1 && location[1] == ':'))
            throw new TernionException($"{describe}: external data location '{location}' is an absolute path; it must be relative to the model's folder");
        var parts = location.Split('/', '\\');
        if (parts.Any(p => p == ".."))
            throw new TernionException($"{describe}: external data location '{location}' leaves the model's folder ('..')");
        string realBase = RealPath(Path.GetFullPath(baseDir));
        string full = Path.GetFullPath(Path.Combine(baseDir, location.Replace('\\', '/')));
        real = RealPath(full);
        if (!IsUnder(real, realBase) && !(physicalDir is not null && IsUnder(real, RealPath(Path.GetFullPath(physicalDir)))))
            throw new TernionException(physicalDir is null
                ? $"{describe}: external data location '{location}' resolves outside the model's folder (through a symbolic link, to {real})"
                : $"{describe}: external data location '{location}' resolves outside the model's folder and outside the folder its file links to (through a symbolic link, to {real})");
        return full;
    }

    /// <summary>The file a path names, links followed (a link's own FileInfo has the link's length, not the file's).</summary>
    public static FileInfo Target(string path) => new(RealPath(Path.GetFullPath(path)));

    private static bool IsUnder(string real, string folder) =>
        real.StartsWith(folder.EndsWith('/') ? folder : folder + "/", StringComparison.Ordinal);

    /// <summary>The path with every symbolic link in it resolved (components that do not exist are kept as they are).</summary>
    public static string RealPath(string fullPath)
    {
        var root = Path.GetPathRoot(fullPath) ?? "/";
        var current = root;
        var rest = fullPath[root.Length..].Split('/', StringSplitOptions.RemoveEmptyEntries);
        int hops = 0;
        var queue = new Queue<string>(rest);
        while (queue.Count > 0)
        {
            var part = queue.Dequeue();
            if (part == ".") continue;
            if (part == "..") { current = Path.GetDirectoryName(current) ?? root; continue; }
            var next = Path.Combine(current, part);
            FileSystemInfo info = Directory.Exists(next) ? new DirectoryInfo(next) : new FileInfo(next);
            if (info.Exists && info.LinkTarget is string target)
            {
                if (++hops > 40) throw new TernionException($"{fullPath}: too many levels of symbolic links");
                var resolved = Path.IsPathRooted(target) ? target : Path.Combine(current, target);
                resolved = Path.GetFullPath(resolved);
                // Re-walk the link target, then the remaining components.
                var remaining = queue.ToArray();
                queue.Clear();
                var troot = Path.GetPathRoot(resolved) ?? "/";
                foreach (var p in resolved[troot.Length..].Split('/', StringSplitOptions.RemoveEmptyEntries)) queue.Enqueue(p);
                foreach (var p in remaining) queue.Enqueue(p);
                current = troot;
                continue;
            }
            current = next;
        }
        return current;
    }
}
