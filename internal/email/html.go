package email

import (
	"bytes"
	"html/template"
	"strconv"
)

// Colours. Every text colour on its background has a contrast ratio of at least 4.5:1 (WCAG AA).
var statusColor = map[string]string{
	"PASS":  "#146c43",
	"FAIL":  "#b4232f",
	"WARN":  "#9a4a00",
	"ERROR": "#842029",
	"SKIP":  "#595f66",
	"NONE":  "#495057",
}

var severityColor = map[string]string{
	"critical": "#842029",
	"high":     "#b4232f",
	"medium":   "#9a4a00",
	"low":      "#595f66",
	"info":     "#495057",
}

// The styles are constants: html/template only sees trusted CSS.
const (
	styleBadge = "display:inline-block;padding:2px 6px;border-radius:3px;font-size:11px;font-weight:bold;letter-spacing:0.3px;color:#ffffff;background-color:"
	styleTH    = "padding:6px 8px;text-align:left;font-size:12px;font-weight:bold;color:#374151;background-color:#f3f4f6;border-bottom:1px solid #d1d5db;"
	styleTHNum = "padding:6px 8px;text-align:right;font-size:12px;font-weight:bold;color:#374151;background-color:#f3f4f6;border-bottom:1px solid #d1d5db;"
	styleTD    = "padding:6px 8px;font-size:13px;color:#111827;border-bottom:1px solid #e5e7eb;vertical-align:top;word-break:break-word;overflow-wrap:anywhere;"
	styleTDNum = "padding:6px 8px;font-size:13px;color:#111827;border-bottom:1px solid #e5e7eb;text-align:right;white-space:nowrap;"
	// styleLink: links to the console's pages (--console-url), blue and underlined.
	styleLink = "color:#1d4ed8;text-decoration:underline;"
)

var funcs = template.FuncMap{
	"badge": func(status string) template.CSS {
		c, ok := statusColor[status]
		if !ok {
			c = statusColor["NONE"]
		}
		return template.CSS(styleBadge + c + ";")
	},
	"sevStyle": func(sev string) template.CSS {
		c, ok := severityColor[sev]
		if !ok {
			c = "#495057"
		}
		return template.CSS("font-size:12px;font-weight:bold;color:" + c + ";")
	},
	"numColor": func(status string, n int) template.CSS {
		if n == 0 {
			return template.CSS("color:#6b7280;")
		}
		return template.CSS("color:" + statusColor[status] + ";font-weight:bold;")
	},
	"num":        formatNumber,
	"add":        func(a, b int) int { return a + b },
	"moreCounts": func(c Counts) string { return countsText(c, true, false) },
	"th":         func() template.CSS { return styleTH },
	"thNum":      func() template.CSS { return styleTHNum },
	"td":         func() template.CSS { return styleTD },
	"tdn":        func() template.CSS { return styleTDNum },
	"link":       func() template.CSS { return styleLink },
}

// formatNumber writes n with thin groups of three digits: 12,345.
func formatNumber(n int) string {
	s := strconv.Itoa(n)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var b []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	if neg {
		return "-" + string(b)
	}
	return string(b)
}

var htmlTemplate = template.Must(template.New("email").Funcs(funcs).Parse(htmlSource))

func renderHTML(v *view) (string, error) {
	var b bytes.Buffer
	if err := htmlTemplate.Execute(&b, v); err != nil {
		return "", err
	}
	return b.String(), nil
}

// htmlSource is laid out with tables and inline styles only, as mail clients (Outlook, Gmail)
// render them: no <style> block, no scripts, no images, no external resources.
const htmlSource = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<title>{{.Subject}}</title>
</head>
<body style="margin:0;padding:0;background-color:#f3f4f6;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background-color:#f3f4f6;">
<tr><td align="center" style="padding:24px 8px;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="max-width:840px;background-color:#ffffff;border:1px solid #d1d5db;font-family:Arial,Helvetica,sans-serif;color:#111827;">
<tr><td style="padding:20px 24px;background-color:#1f2937;color:#ffffff;">
<div style="font-size:12px;letter-spacing:1px;text-transform:uppercase;color:#d1d5db;">Policy Herald</div>
<div style="font-size:22px;font-weight:bold;margin-top:4px;color:#ffffff;">{{.Title}}{{if .Cluster}} – {{.Cluster}}{{end}}</div>
<div style="font-size:13px;margin-top:6px;color:#e5e7eb;">{{if .Cluster}}Cluster <strong>{{.Cluster}}</strong> · {{end}}{{num .Total}} {{if .Violations}}violation{{else}}result{{end}}{{if ne .Total 1}}s{{end}} · generated {{.Generated}}</div>
{{- if .Scope}}
<div style="font-size:13px;margin-top:2px;color:#e5e7eb;">Scope: {{.Scope}}</div>
{{- end}}
</td></tr>
<tr><td style="padding:16px 24px 4px 24px;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">
<tr>
{{- if not .Violations}}
<td align="center" width="{{$.TileWidth}}" style="width:{{$.TileWidth}};padding:8px;border:1px solid #e5e7eb;"><div style="font-size:24px;font-weight:bold;{{numColor "PASS" .Totals.Pass}}">{{num .Totals.Pass}}</div><div style="font-size:12px;color:#374151;">pass</div></td>
{{- end}}
<td align="center" width="{{$.TileWidth}}" style="width:{{$.TileWidth}};padding:8px;border:1px solid #e5e7eb;"><div style="font-size:24px;font-weight:bold;{{numColor "FAIL" .Totals.Fail}}">{{num .Totals.Fail}}</div><div style="font-size:12px;color:#374151;">fail</div></td>
<td align="center" width="{{$.TileWidth}}" style="width:{{$.TileWidth}};padding:8px;border:1px solid #e5e7eb;"><div style="font-size:24px;font-weight:bold;{{numColor "WARN" .Totals.Warn}}">{{num .Totals.Warn}}</div><div style="font-size:12px;color:#374151;">warn</div></td>
<td align="center" width="{{$.TileWidth}}" style="width:{{$.TileWidth}};padding:8px;border:1px solid #e5e7eb;"><div style="font-size:24px;font-weight:bold;{{numColor "ERROR" .Totals.Error}}">{{num .Totals.Error}}</div><div style="font-size:12px;color:#374151;">error</div></td>
{{- if not .Violations}}
<td align="center" width="{{$.TileWidth}}" style="width:{{$.TileWidth}};padding:8px;border:1px solid #e5e7eb;"><div style="font-size:24px;font-weight:bold;{{numColor "SKIP" .Totals.Skip}}">{{num .Totals.Skip}}</div><div style="font-size:12px;color:#374151;">skip</div></td>
{{- if .ShowNone}}
<td align="center" width="{{$.TileWidth}}" style="width:{{$.TileWidth}};padding:8px;border:1px solid #e5e7eb;"><div style="font-size:24px;font-weight:bold;{{numColor "NONE" .Totals.None}}">{{num .Totals.None}}</div><div style="font-size:12px;color:#374151;">no status</div></td>
{{- end}}
{{- end}}
</tr>
</table>
</td></tr>
{{- if .Omitted}}
<tr><td style="padding:8px 24px 0 24px;"><div style="padding:8px 12px;background-color:#fff7e6;border-left:4px solid #9a4a00;font-size:13px;color:#111827;">This report is long: it lists {{num .Listed}} {{if .Violations}}results{{else}}namespace rows{{end}} and sums up the other {{num .Omitted}} (at most {{num .MaxGroupRows}} per group and {{num .MaxRows}} in all).</div></td></tr>
{{- end}}
{{- if not .Sources}}
<tr><td style="padding:16px 24px;font-size:14px;color:#374151;">{{if .Violations}}No fail, warn or error results: nothing to report.{{else}}No results.{{end}}</td></tr>
{{- end}}
{{- if and (not .Violations) .Sources}}
<tr><td style="padding:16px 24px 0 24px;">
<div style="font-size:16px;font-weight:bold;margin-bottom:6px;color:#111827;">Per source</div>
<table width="100%" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse;border:1px solid #d1d5db;table-layout:fixed;">
<tr><th style="{{th}}width:30%;">Source</th><th style="{{thNum}}">Pass</th><th style="{{thNum}}">Fail</th><th style="{{thNum}}">Warn</th><th style="{{thNum}}">Error</th><th style="{{thNum}}">Skip</th>{{if .ShowNone}}<th style="{{thNum}}">No status</th>{{end}}<th style="{{thNum}}">Total</th></tr>
{{- range .Sources}}
<tr><td style="{{td}}">{{.Name}}</td><td style="{{tdn}}{{numColor "PASS" .Totals.Pass}}">{{num .Totals.Pass}}</td><td style="{{tdn}}{{numColor "FAIL" .Totals.Fail}}">{{num .Totals.Fail}}</td><td style="{{tdn}}{{numColor "WARN" .Totals.Warn}}">{{num .Totals.Warn}}</td><td style="{{tdn}}{{numColor "ERROR" .Totals.Error}}">{{num .Totals.Error}}</td><td style="{{tdn}}{{numColor "SKIP" .Totals.Skip}}">{{num .Totals.Skip}}</td>{{if $.ShowNone}}<td style="{{tdn}}{{numColor "NONE" .Totals.None}}">{{num .Totals.None}}</td>{{end}}<td style="{{tdn}}font-weight:bold;">{{num .Totals.Total}}</td></tr>
{{- end}}
</table>
</td></tr>
{{- end}}
{{- range .Sources}}
<tr><td style="padding:20px 24px 0 24px;">
<div style="font-size:17px;font-weight:bold;padding-bottom:4px;border-bottom:2px solid #1f2937;color:#111827;">{{.Name}} <span style="font-size:13px;font-weight:normal;color:#374151;">· {{num .Totals.Total}} {{if $.Violations}}violation{{else}}result{{end}}{{if ne .Totals.Total 1}}s{{end}}</span></div>
{{- if not $.Violations}}
{{- if .Cluster}}
<div style="font-size:14px;font-weight:bold;margin:12px 0 6px 0;color:#111827;">Cluster reports</div>
<table width="100%" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse;border:1px solid #d1d5db;table-layout:fixed;">
<tr><th style="{{th}}width:30%;">Scope</th><th style="{{thNum}}">Pass</th><th style="{{thNum}}">Fail</th><th style="{{thNum}}">Warn</th><th style="{{thNum}}">Error</th><th style="{{thNum}}">Skip</th>{{if $.ShowNone}}<th style="{{thNum}}">No status</th>{{end}}<th style="{{thNum}}">Total</th></tr>
<tr><td style="{{td}}">cluster</td><td style="{{tdn}}{{numColor "PASS" .Cluster.Pass}}">{{num .Cluster.Pass}}</td><td style="{{tdn}}{{numColor "FAIL" .Cluster.Fail}}">{{num .Cluster.Fail}}</td><td style="{{tdn}}{{numColor "WARN" .Cluster.Warn}}">{{num .Cluster.Warn}}</td><td style="{{tdn}}{{numColor "ERROR" .Cluster.Error}}">{{num .Cluster.Error}}</td><td style="{{tdn}}{{numColor "SKIP" .Cluster.Skip}}">{{num .Cluster.Skip}}</td>{{if $.ShowNone}}<td style="{{tdn}}{{numColor "NONE" .Cluster.None}}">{{num .Cluster.None}}</td>{{end}}<td style="{{tdn}}font-weight:bold;">{{num .Cluster.Total}}</td></tr>
</table>
{{- end}}
{{- if or .Namespaces .MoreNamespaces}}
<div style="font-size:14px;font-weight:bold;margin:12px 0 6px 0;color:#111827;">Per namespace</div>
<table width="100%" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse;border:1px solid #d1d5db;table-layout:fixed;">
<tr><th style="{{th}}width:30%;">Namespace</th><th style="{{thNum}}">Pass</th><th style="{{thNum}}">Fail</th><th style="{{thNum}}">Warn</th><th style="{{thNum}}">Error</th><th style="{{thNum}}">Skip</th>{{if $.ShowNone}}<th style="{{thNum}}">No status</th>{{end}}<th style="{{thNum}}">Total</th></tr>
{{- range .Namespaces}}
<tr><td style="{{td}}">{{if .URL}}<a href="{{.URL}}" style="{{link}}">{{.Namespace}}</a>{{else}}{{.Namespace}}{{end}}</td><td style="{{tdn}}{{numColor "PASS" .Counts.Pass}}">{{num .Counts.Pass}}</td><td style="{{tdn}}{{numColor "FAIL" .Counts.Fail}}">{{num .Counts.Fail}}</td><td style="{{tdn}}{{numColor "WARN" .Counts.Warn}}">{{num .Counts.Warn}}</td><td style="{{tdn}}{{numColor "ERROR" .Counts.Error}}">{{num .Counts.Error}}</td><td style="{{tdn}}{{numColor "SKIP" .Counts.Skip}}">{{num .Counts.Skip}}</td>{{if $.ShowNone}}<td style="{{tdn}}{{numColor "NONE" .Counts.None}}">{{num .Counts.None}}</td>{{end}}<td style="{{tdn}}font-weight:bold;">{{num .Counts.Total}}</td></tr>
{{- end}}
{{- if .MoreNamespaces}}
<tr><td style="{{td}}font-style:italic;">and {{num .MoreNamespaces}} more namespace{{if ne .MoreNamespaces 1}}s{{end}}</td><td style="{{tdn}}">{{num .MoreCounts.Pass}}</td><td style="{{tdn}}">{{num .MoreCounts.Fail}}</td><td style="{{tdn}}">{{num .MoreCounts.Warn}}</td><td style="{{tdn}}">{{num .MoreCounts.Error}}</td><td style="{{tdn}}">{{num .MoreCounts.Skip}}</td>{{if $.ShowNone}}<td style="{{tdn}}">{{num .MoreCounts.None}}</td>{{end}}<td style="{{tdn}}font-weight:bold;">{{num .MoreCounts.Total}}</td></tr>
{{- end}}
</table>
{{- end}}
{{- else}}
{{- range .Groups}}
<div style="font-size:14px;font-weight:bold;margin:14px 0 6px 0;color:#111827;">{{if .URL}}<a href="{{.URL}}" style="{{link}}">{{.Label}}</a>{{else}}{{.Label}}{{end}} <span style="font-weight:normal;color:#374151;">· {{if .Counts.Fail}}<span style="color:#b4232f;">fail {{num .Counts.Fail}}</span> {{end}}{{if .Counts.Warn}}<span style="color:#9a4a00;">warn {{num .Counts.Warn}}</span> {{end}}{{if .Counts.Error}}<span style="color:#842029;">error {{num .Counts.Error}}</span>{{end}}</span></div>
<table width="100%" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse;border:1px solid #d1d5db;table-layout:fixed;">
{{- if .Rows}}
<tr><th style="{{th}}width:64px;">Status</th><th style="{{th}}width:72px;">Severity</th><th style="{{th}}">Resource</th><th style="{{th}}">Policy</th><th style="{{th}}">Rule</th></tr>
{{- end}}
{{- range .Rows}}
<tr><td style="padding:6px 8px 2px 8px;vertical-align:top;"><span style="{{badge .Status}}">{{.Status}}</span></td><td style="padding:6px 8px 2px 8px;vertical-align:top;">{{if .Severity}}<span style="{{sevStyle .Severity}}">{{.Severity}}</span>{{else}}<span style="font-size:12px;color:#6b7280;">—</span>{{end}}</td><td style="padding:6px 8px 2px 8px;font-size:13px;color:#111827;vertical-align:top;word-break:break-word;overflow-wrap:anywhere;">{{if .ResourceURL}}<a href="{{.ResourceURL}}" style="{{link}}">{{.Resource}}</a>{{else}}{{.Resource}}{{end}}</td><td style="padding:6px 8px 2px 8px;font-size:13px;color:#111827;vertical-align:top;word-break:break-word;overflow-wrap:anywhere;">{{if .Policy}}{{if .PolicyURL}}<a href="{{.PolicyURL}}" style="{{link}}">{{.Policy}}</a>{{else}}{{.Policy}}{{end}}{{else}}<span style="color:#6b7280;">—</span>{{end}}</td><td style="padding:6px 8px 2px 8px;font-size:13px;color:#111827;vertical-align:top;word-break:break-word;overflow-wrap:anywhere;">{{if .Rule}}{{.Rule}}{{else}}<span style="color:#6b7280;">—</span>{{end}}</td></tr>
<tr><td colspan="5" style="padding:0 8px 8px 8px;font-size:12px;line-height:1.4;color:#374151;border-bottom:1px solid #e5e7eb;word-break:break-word;overflow-wrap:anywhere;">{{if .Message}}{{.Message}}{{else}}<span style="color:#6b7280;">(no message)</span>{{end}}</td></tr>
{{- end}}
{{- if .More}}
<tr><td colspan="5" style="{{td}}font-style:italic;">{{if .Rows}}and {{num .More}} more{{else}}{{num .More}} not listed: the report reached its limit of {{num $.MaxRows}} results{{end}} ({{moreCounts .MoreCounts}})</td></tr>
{{- end}}
</table>
{{- end}}
{{- end}}
</td></tr>
{{- end}}
<tr><td style="padding:24px;font-size:12px;color:#4b5563;">
{{- if .Omitted}}Listed {{num .Listed}} of {{num (add .Listed .Omitted)}} {{if .Violations}}results{{else}}namespace rows{{end}}; and {{num .Omitted}} more not listed. {{end -}}
Sent by Policy Herald{{if .Schedule}} for EmailReportSchedule {{.Schedule}}{{end}}.
</td></tr>
</table>
</td></tr>
</table>
</body>
</html>
`
