//! One portable schema for both backends (migrations/postgres and migrations/sqlite create
//! the same tables): ids and JSON as text, times as epoch milliseconds.

diesel::table! {
    nodes (name) {
        name -> Text,
        kind -> Text,
        url -> Text,
        priority -> Text,
        weight -> Integer,
        max_concurrency -> Nullable<Integer>,
        api_key -> Nullable<Text>,
        models -> Text,
        probe -> Bool,
        responses -> Bool,
        drained -> Bool,
        updated_ms -> BigInt,
    }
}

diesel::table! {
    routes (alias) {
        alias -> Text,
        target_model -> Text,
        nodes -> Text,
        fallbacks -> Text,
        updated_ms -> BigInt,
    }
}

diesel::table! {
    settings (key) {
        key -> Text,
        value -> Text,
        updated_ms -> BigInt,
    }
}

diesel::table! {
    config_history (revision) {
        revision -> BigInt,
        ts_ms -> BigInt,
        actor -> Text,
        entity -> Text,
        before -> Nullable<Text>,
        after -> Nullable<Text>,
        cluster_revision -> Nullable<BigInt>,
    }
}

diesel::table! {
    users (username) {
        username -> Text,
        password_hash -> Text,
        role -> Text,
        created_ms -> BigInt,
    }
}

diesel::table! {
    sessions (token_hash) {
        token_hash -> Text,
        username -> Text,
        created_ms -> BigInt,
        expires_ms -> BigInt,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        name -> Text,
        prefix -> Text,
        hash -> Text,
        enabled -> Bool,
        expires_ms -> Nullable<BigInt>,
        allowed_models -> Nullable<Text>,
        rpm_limit -> Nullable<Integer>,
        tpm_limit -> Nullable<Integer>,
        created_ms -> BigInt,
        revoked_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    request_logs (id) {
        id -> Text,
        request_id -> Text,
        ts_ms -> BigInt,
        replica -> Text,
        api -> Text,
        key_id -> Nullable<Text>,
        model_requested -> Text,
        model_resolved -> Nullable<Text>,
        node -> Nullable<Text>,
        status -> Integer,
        error_kind -> Nullable<Text>,
        stream -> Bool,
        latency_ms -> Double,
        ttft_ms -> Nullable<Double>,
        prompt_tokens -> Nullable<BigInt>,
        completion_tokens -> Nullable<BigInt>,
        retries -> Integer,
        client_addr -> Nullable<Text>,
        dropped -> Nullable<Text>,
    }
}

diesel::table! {
    request_contents (log_id) {
        log_id -> Text,
        request_body -> Nullable<Text>,
        response_body -> Nullable<Text>,
        truncated -> Bool,
    }
}

diesel::table! {
    media_resources (sha256) {
        sha256 -> Text,
        mime -> Text,
        bytes -> BigInt,
        path -> Text,
        first_log_id -> Nullable<Text>,
        created_ms -> BigInt,
    }
}

diesel::joinable!(request_contents -> request_logs (log_id));
diesel::allow_tables_to_appear_in_same_query!(
    nodes,
    routes,
    settings,
    config_history,
    users,
    sessions,
    api_keys,
    request_logs,
    request_contents,
    media_resources,
);
