namespace Ternion.IR;

/// <summary>
/// Hands out names that collide with no value name in the model (all graphs, subgraphs and
/// functions). Fresh names are deterministic: hint, hint_1, hint_2 ...
/// </summary>
public sealed class NameAuthority
{
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _next = new(StringComparer.Ordinal);

    public bool IsUsed(string name) => _used.Contains(name);

    /// <summary>Records a name read from a file (duplicates across scopes are legal there).</summary>
    public void Note(string name) { if (name.Length > 0) _used.Add(name); }

    /// <summary>A new name based on <paramref name="hint"/>, recorded as used.</summary>
    public string Fresh(string hint)
    {
        if (string.IsNullOrEmpty(hint)) hint = "v";
        if (_used.Add(hint)) return hint;
        _next.TryGetValue(hint, out int i);
        string candidate;
        do { i++; candidate = $"{hint}_{i}"; } while (!_used.Add(candidate));
        _next[hint] = i;
        return candidate;
    }

    /// <summary>Claims exactly this name if free, else a fresh variant of it.</summary>
    public string Claim(string name) => _used.Add(name) ? name : Fresh(name);

    internal bool TryClaimExact(string name) => _used.Add(name);

    /// <summary>Gives a name back once nothing carries it (so a rewrite can reuse an original name).</summary>
    internal void Release(string name) => _used.Remove(name);
}
