//! URLs in the platform's settings (alert hooks, the identity provider):
//! checked when the settings are loaded, used by `crate::platform_http`.

/// Checks a URL at config load: absolute http(s) with a host.
pub fn check_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text).map_err(|e| format!("`{text}` is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("`{text}` is not an http(s) URL with a host"));
    }
    Ok(url)
}
