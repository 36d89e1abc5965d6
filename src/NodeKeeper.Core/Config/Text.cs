using System.Globalization;

namespace NodeKeeper.Core.Config;

/// <summary>Small text helpers shared by the configuration parsers.</summary>
internal static class Text
{
    /// <summary>Quotes a string for a message the way TOML writes it (<see cref="TomlText.String"/>), shortened when long.</summary>
    public static string Quote(string s)
    {
        const int Max = 80;
        return s.Length > Max ? TomlText.String(s[..Max])[..^1] + "…\"" : TomlText.String(s);
    }

    /// <summary>A key as TOML would write it, shortened like <see cref="Quote"/> when it must be quoted.</summary>
    public static string Key(string key) => TomlText.IsBare(key) ? key : Quote(key);

    /// <summary>
    /// The start every value with a unit shares (durations, sizes): the trimmed text, an optional sign, and where the
    /// number begins. False when there is no text at all.
    /// </summary>
    public static bool StartValue(string? s, out string text, out bool negative, out int i)
    {
        text = s?.Trim() ?? "";
        negative = text.StartsWith('-');
        i = text.Length > 0 && text[0] is '-' or '+' ? 1 : 0;
        return text.Length > 0;
    }

    /// <summary>
    /// Reads an unsigned decimal number (<c>5</c>, <c>1.5</c>, <c>.5</c>) at <paramref name="i"/>.
    /// Returns null with no error when it is well formed but too large for a decimal.
    /// </summary>
    public static decimal? ReadNumber(string text, ref int i, out UnitParseError error)
    {
        int start = i;
        int digits = 0, dots = 0;
        while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] == '.'))
        {
            if (text[i] == '.') dots++; else digits++;
            i++;
        }
        if (digits == 0 || dots > 1 || text[i - 1] == '.')
        {
            error = UnitParseError.Invalid;
            return null;
        }
        error = UnitParseError.None;
        return decimal.TryParse(text.AsSpan(start, i - start), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var d)
            ? d
            : null;
    }
}
