from ninja import NinjaAPI

api = NinjaAPI(title="Keystead API", version="1", urls_namespace="api")
