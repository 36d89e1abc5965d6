using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace NodeKeeper.Core.Config;

/// <summary>
/// Reads typed values out of <see cref="TEntry"/>s. Each method either returns true with the value,
/// or records one error at the offending value that names the key (<paramref name="label"/>) and
/// shows what was found, and returns false.
/// </summary>
internal sealed class ValueReader(ConfigErrors errors)
{
    public ConfigErrors Errors { get; } = errors;

    /// <summary>
    /// The longest duration any key may have. The daemon waits with Task.Delay and CancelAfter (at most
    /// 2^32 - 2 ms, about 49.7 days) and adds durations together (kill_timeout + listen_timeout), so a
    /// larger value would throw there, long after the config was accepted.
    /// </summary>
    public static readonly TimeSpan MaxDuration = TimeSpan.FromDays(24);

    /// <summary>How a value reads in "got …": strings quoted, numbers as written, "an array", "a table".</summary>
    public static string Got(TNode node) => node switch
    {
        TScalar { Kind: ScalarKind.String } s => Text.Quote(s.String),
        TScalar s => s.Source,
        TArray => "an array",
        _ => "a table",
    };

    public void Fail(TNode node, string message) => Errors.Add(node.Pos, message);

    /// <summary>PATH_MAX: the kernel refuses a longer path (ENAMETOOLONG) however the config spells it.</summary>
    public const int MaxPathBytes = 4095;

    /// <summary>MAX_ARG_STRLEN less the NUL: execve refuses a longer argument or NAME=value (E2BIG).</summary>
    public const int MaxArgBytes = 131071;

    /// <summary>True when the path, once resolved, is short enough for the kernel; otherwise an error at the value.</summary>
    public bool PathFits(TNode node, string label, string resolved)
    {
        if (PathTooLong(label, resolved) is not { } message) return true;
        Fail(node, message);
        return false;
    }

    /// <summary>Why a resolved path is too long for the kernel, or null.</summary>
    public static string? PathTooLong(string label, string resolved)
    {
        int bytes = System.Text.Encoding.UTF8.GetByteCount(resolved);
        return bytes <= MaxPathBytes ? null
            : $"{label} is {bytes.ToString(CultureInfo.InvariantCulture)} bytes long once resolved: a Linux path is at most {MaxPathBytes.ToString(CultureInfo.InvariantCulture)} bytes";
    }

    /// <summary>True when an argument (or NAME=value) is short enough for execve; otherwise an error at the value.</summary>
    public bool ArgFits(TNode node, string label, string arg, string what = "an argument")
    {
        int bytes = System.Text.Encoding.UTF8.GetByteCount(arg);
        if (bytes <= MaxArgBytes) return true;
        Fail(node, $"{label} is {bytes.ToString(CultureInfo.InvariantCulture)} bytes long: Linux refuses {what} over {MaxArgBytes.ToString(CultureInfo.InvariantCulture)} bytes (E2BIG)");
        return false;
    }

    public void UnknownKey(TEntry entry, string where, IEnumerable<string> candidates, string? hint = null)
    {
        var suggestion = KeySuggester.Suggest(entry.Key, candidates);
        var tail = hint is not null ? $": {hint}" : suggestion is not null ? $" (did you mean {Text.Quote(suggestion)}?)" : "";
        Errors.Add(entry.KeyPos, $"unknown key {Text.Quote(entry.Key)} {where}{tail}");
    }

    public bool String(TEntry e, string label, out string value, bool allowEmpty = false)
    {
        value = "";
        if (e.Value is not TScalar { Kind: ScalarKind.String } s)
        {
            Fail(e.Value, $"{label} must be a string, got {Got(e.Value)}");
            return false;
        }
        return CheckString(s, label, allowEmpty, out value);
    }

    private bool CheckString(TScalar s, string label, bool allowEmpty, out string value)
    {
        value = s.String;
        if (!allowEmpty && value.Length == 0)
        {
            Fail(s, $"{label} must not be empty");
            return false;
        }
        if (value.Contains('\0'))
        {
            Fail(s, $"{label} must not contain a NUL character");
            return false;
        }
        return true;
    }

    public bool Integer(TEntry e, string label, long min, long max, out long value) =>
        Integer(e.Value, label, min, max, out value);

    public bool Integer(TNode node, string label, long min, long max, out long value)
    {
        value = 0;
        if (node is not TScalar { Kind: ScalarKind.Integer } i)
        {
            Fail(node, $"{label} must be a whole number, got {Got(node)}");
            return false;
        }
        return InRange(i, label, min, max, out value);
    }

    public bool InRange(TScalar i, string label, long min, long max, out long value)
    {
        value = i.Integer;
        if (value < min || value > max)
        {
            Fail(i, $"{label} must be between {min.ToString(CultureInfo.InvariantCulture)} and {max.ToString(CultureInfo.InvariantCulture)}, got {i.Source}");
            return false;
        }
        return true;
    }

    /// <summary>A number from 0 to 1 (0.05 is 5 %); a whole 0 or 1 is taken too.</summary>
    public bool Ratio(TEntry e, string label, out double value)
    {
        value = 0;
        var number = e.Value switch
        {
            TScalar { Kind: ScalarKind.Float } f => f.Float,
            TScalar { Kind: ScalarKind.Integer } i => i.Integer,
            _ => double.NaN,
        };
        if (double.IsNaN(number) || number < 0 || number > 1)
        {
            Fail(e.Value, $"{label} must be a number from 0 to 1 (0.05 is 5 %), got {Got(e.Value)}");
            return false;
        }
        value = number;
        return true;
    }

    public bool Boolean(TEntry e, string label, out bool value)
    {
        value = false;
        if (e.Value is not TScalar { Kind: ScalarKind.Boolean } b)
        {
            Fail(e.Value, $"{label} must be true or false, got {Got(e.Value)}");
            return false;
        }
        value = b.Boolean;
        return true;
    }

    /// <summary>A duration string such as "5s"; zero is allowed only when <paramref name="positive"/> is false.</summary>
    public bool Duration(TEntry e, string label, bool positive, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        if (e.Value is not TScalar { Kind: ScalarKind.String } s)
        {
            var what = e.Value is TScalar { Kind: ScalarKind.Integer or ScalarKind.Float } ? "a duration with a unit" : "a duration";
            Fail(e.Value, $"{label} must be {what} such as \"5s\", got {Got(e.Value)}");
            return false;
        }
        var kind = Config.Duration.Parse(s.String, out value, out _);
        if (kind == UnitParseError.None && positive && value <= TimeSpan.Zero)
        {
            Fail(s, $"{label} must be greater than 0, got {Got(s)}");
            return false;
        }
        if (kind == UnitParseError.TooLarge || (kind == UnitParseError.None && value > MaxDuration))
        {
            Fail(s, $"{label} must be at most \"{Config.Duration.Format(MaxDuration)}\", got {Got(s)}");
            value = TimeSpan.Zero;
            return false;
        }
        return UnitValue(s, kind, label,
            $"a duration with a unit such as \"5s\"", "a duration such as \"250ms\", \"5s\", \"2m\" or \"1h\"");
    }

    /// <summary>A size string such as "800M", in bytes; must be at least <paramref name="min"/> (written as <paramref name="minText"/>).</summary>
    public bool Size(TEntry e, string label, long min, string minText, out long bytes)
    {
        bytes = 0;
        if (e.Value is not TScalar { Kind: ScalarKind.String } s)
        {
            var what = e.Value is TScalar { Kind: ScalarKind.Integer or ScalarKind.Float } ? "a size with a unit" : "a size";
            Fail(e.Value, $"{label} must be {what} such as \"800M\", got {Got(e.Value)}");
            return false;
        }
        var kind = Config.Size.Parse(s.String, out bytes, out _);
        if (kind == UnitParseError.None && bytes < min)
        {
            Fail(s, min == 1 ? $"{label} must be greater than 0, got {Got(s)}" : $"{label} must be at least {minText}, got {Got(s)}");
            return false;
        }
        return UnitValue(s, kind, label,
            "a size with a unit such as \"800M\" (K, M, G or T)", "a size such as \"512K\", \"800M\" or \"2G\"");
    }

    /// <summary>Reports a duration or size that did not parse; true when it did.</summary>
    private bool UnitValue(TScalar s, UnitParseError kind, string label, string withUnit, string example)
    {
        var message = kind switch
        {
            UnitParseError.None => null,
            UnitParseError.MissingUnit => $"{label} must be {withUnit}",
            UnitParseError.Negative => $"{label} must not be negative",
            UnitParseError.TooLarge => $"{label} is too large",
            _ => $"{label} must be {example}",
        };
        if (message is not null) Fail(s, $"{message}, got {Got(s)}");
        return message is null;
    }

    /// <summary>One of a fixed set of strings.</summary>
    public bool OneOf<T>(TEntry e, string label, WordTable<T> words, out T value) where T : struct, Enum
    {
        if (e.Value is TScalar { Kind: ScalarKind.String } s && words.TryParse(s.String, out value)) return true;
        var options = words.Words;
        var list = string.Join(", ", options.Take(options.Count - 1).Select(Text.Quote)) + " or " + Text.Quote(options[^1]);
        Fail(e.Value, $"{label} must be {list}, got {Got(e.Value)}");
        value = default;
        return false;
    }

    /// <summary>An array whose items are all non-empty strings; each bad item is reported at the item.</summary>
    public bool StringArray(TEntry e, string label, out List<string> values)
    {
        values = [];
        if (e.Value is not TArray array)
        {
            Fail(e.Value, $"{label} must be an array of strings, got {Got(e.Value)}");
            return false;
        }
        bool ok = true;
        for (int i = 0; i < array.Items.Count; i++)
        {
            var itemLabel = $"{label}[{i.ToString(CultureInfo.InvariantCulture)}]";
            if (array.Items[i] is not TScalar { Kind: ScalarKind.String } s)
            {
                Fail(array.Items[i], $"{itemLabel} must be a string, got {Got(array.Items[i])}");
                ok = false;
            }
            else if (CheckString(s, itemLabel, allowEmpty: false, out var value)) values.Add(value);
            else ok = false;
        }
        return ok;
    }

    /// <summary>An array of whole numbers in a range; each bad item is reported at the item.</summary>
    public bool IntegerArray(TEntry e, string label, long min, long max, out List<int> values)
    {
        values = [];
        if (e.Value is not TArray array)
        {
            Fail(e.Value, $"{label} must be an array of whole numbers, got {Got(e.Value)}");
            return false;
        }
        bool ok = true;
        for (int i = 0; i < array.Items.Count; i++)
        {
            if (Integer(array.Items[i], $"{label}[{i.ToString(CultureInfo.InvariantCulture)}]", min, max, out var value))
                values.Add((int)value);
            else ok = false;
        }
        return ok;
    }

    /// <summary>A table (inline or not); <paramref name="example"/> shows the expected shape.</summary>
    public bool Table(TEntry e, string label, string example, [NotNullWhen(true)] out TTable? table)
    {
        if (e.Value is TTable t)
        {
            table = t;
            return true;
        }
        table = null;
        Fail(e.Value, $"{label} must be a table such as {example}, got {Got(e.Value)}");
        return false;
    }
}
