using System.Globalization;
using System.Text;

namespace NodeKeeper.Core.Config;

/// <summary>Small text helpers shared by the configuration parsers.</summary>
internal static class Text
{
    /// <summary>Quotes a string for an error message the way TOML would write it, shortened when long.</summary>
    public static string Quote(string s)
    {
        const int Max = 80;
        var sb = new StringBuilder(Math.Min(s.Length, Max) + 2);
        sb.Append('"');
        int shown = 0;
        foreach (var c in s)
        {
            if (shown++ == Max) { sb.Append('…'); break; }
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (char.IsControl(c)) sb.Append("\\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
        return sb.ToString();
    }

    /// <summary>A key as TOML would write it: bare when it can be, quoted otherwise.</summary>
    public static string Key(string key) =>
        key.Length > 0 && key.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-') ? key : Quote(key);

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
